"""PyTorch peer ops for dcsr_bench, one module per family (see torch_peer.py)."""
