#include "nn/distributed.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <list>
#include <thread>

#include "autograd/ops.h"
#include "runtime/device.h"
#include "tensor/error.h"

#ifdef DCSR_HAVE_MPI
#define OMPI_SKIP_MPICXX 1  // the C API only: MPI's C++ bindings warn under -Wextra
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif
#ifdef DCSR_HAVE_NCCL
#include <cuda_runtime.h>
#include <nccl.h>
#endif

namespace dcsr::distributed {

namespace {

World g_world;
[[maybe_unused]] bool g_mpi_started = false;  // MPI_Init ran (only in MPI builds)
bool g_exit_agreed = false;                   // set_exit_status_agreed()
int64_t g_transported = 0;                    // allreduces that went through MPI or NCCL

// Whether the collectives can be skipped: one rank, and not forced by
// DCSR_COLLECTIVES_ALWAYS (collectives_always()).
bool one_rank() { return g_world.size == 1 && !collectives_always(); }

#ifdef DCSR_HAVE_MPI
// Whether a launcher (Open MPI, or a PMI-based one) started this process.
bool started_by_launcher() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(name)) return true;
  return false;
}
#endif

using Clock = std::chrono::steady_clock;

[[noreturn]] void abort_job(const char* what) {
  std::fprintf(stderr,
               "dcsr: rank %d of %d: %s did not complete within %g s (DCSR_COLLECTIVE_TIMEOUT): another rank "
               "has failed or hangs; aborting the job\n",
               g_world.rank, g_world.size, what, collective_timeout_s());
  std::fflush(stderr);
#ifdef DCSR_HAVE_MPI
  MPI_Abort(MPI_COMM_WORLD, 1);
#endif
  std::_Exit(1);
}

// Polls `done()` until it is true or the deadline passes. Sleeps between
// polls so that a rank waiting for a slower one leaves the cores to it.
template <typename Done>
void wait_with_deadline(const char* what, Done&& done) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(collective_timeout_s());
  for (int polls = 0; !done(); ++polls) {
    if (Clock::now() > deadline) abort_job(what);
    if (polls > 64) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

#ifdef DCSR_HAVE_MPI
void wait_request(MPI_Request& request, const char* what) {
  wait_with_deadline(what, [&] {
    int finished = 0;
    MPI_Test(&request, &finished, MPI_STATUS_IGNORE);
    return finished != 0;
  });
}

MPI_Datatype mpi_type(DType dtype) {
  switch (dtype) {
    case DType::Float32: return MPI_FLOAT;
    case DType::Float64: return MPI_DOUBLE;
    default: fail("allreduce_sum: unsupported dtype ", dtype_name(dtype));
  }
}
#endif

#ifdef DCSR_HAVE_NCCL
ncclComm_t g_nccl = nullptr;

void nccl_check(ncclResult_t result, const char* call) {
  DCSR_CHECK(result == ncclSuccess, call, " failed: ", ncclGetErrorString(result));
}

// One communicator over all ranks, made on first use: the root's unique id
// travels through MPI.
ncclComm_t nccl_comm() {
  if (g_nccl) return g_nccl;
  ncclUniqueId id;
  if (g_world.is_root()) nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId");
  MPI_Request request;
  MPI_Ibcast(&id, int(sizeof(id)), MPI_BYTE, 0, MPI_COMM_WORLD, &request);
  wait_request(request, "broadcast of the NCCL id");
  nccl_check(ncclCommInitRank(&g_nccl, g_world.size, id, g_world.rank), "ncclCommInitRank");
  return g_nccl;
}

void nccl_allreduce(Tensor& t) {
  const ncclDataType_t type = t.dtype() == DType::Float64 ? ncclFloat64 : ncclFloat32;
  nccl_check(ncclAllReduce(t.raw_data(), t.raw_data(), size_t(t.numel()), type, ncclSum, nccl_comm(), nullptr),
             "ncclAllReduce");
  wait_with_deadline("ncclAllReduce", [] {
    const cudaError_t status = cudaStreamQuery(nullptr);
    DCSR_CHECK(status == cudaSuccess || status == cudaErrorNotReady, "ncclAllReduce: ", cudaGetErrorString(status));
    return status == cudaSuccess;
  });
}
#endif

}  // namespace

bool mpi_built() {
#ifdef DCSR_HAVE_MPI
  return true;
#else
  return false;
#endif
}

const World& world() { return g_world; }

double collective_timeout_s() {
  static const double seconds = [] {
    const char* value = std::getenv("DCSR_COLLECTIVE_TIMEOUT");
    if (!value || !*value) return 120.0;
    char* end = nullptr;
    const double s = std::strtod(value, &end);
    DCSR_CHECK(end && *end == 0 && s > 0 && s <= 86400, "DCSR_COLLECTIVE_TIMEOUT='", value,
               "': expected seconds in (0, 86400]");
    return s;
  }();
  return seconds;
}

void init(int* argc, char*** argv) {
#ifdef DCSR_HAVE_MPI
  if (g_mpi_started || !started_by_launcher()) return;
  MPI_Init(argc, argv);
  g_mpi_started = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &g_world.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_world.size);
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_world.rank, MPI_INFO_NULL, &node);
  MPI_Comm_rank(node, &g_world.local_rank);
  MPI_Comm_free(&node);
  std::atexit(finalize);
  // One GPU per rank: the local rank picks it, before anything touches the device.
  if (runtime::cuda_available()) runtime::cuda_select_device(g_world.local_rank);
#else
  (void)argc;
  (void)argv;
#endif
}

void finalize() {
  static bool reported = false;
  if (collectives_always() && !reported) {
    reported = true;
    std::fprintf(stderr, "dcsr: rank %d: DCSR_COLLECTIVES_ALWAYS=1: %lld allreduces went through MPI or NCCL\n",
                 g_world.rank, static_cast<long long>(g_transported));
  }
#ifdef DCSR_HAVE_NCCL
  if (g_nccl) {
    ncclCommDestroy(g_nccl);
    g_nccl = nullptr;
  }
#endif
#ifdef DCSR_HAVE_MPI
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (g_mpi_started && !finalized) MPI_Finalize();
#endif
}

void abort_all(int status) {
#ifdef DCSR_HAVE_MPI
  if (g_mpi_started && g_world.size > 1 && !g_exit_agreed) {
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, status);
  }
#endif
  (void)status;
}

void share(int64_t total, int64_t& begin, int64_t& end) {
  begin = total * g_world.rank / g_world.size;
  end = total * (g_world.rank + 1) / g_world.size;
}

void allreduce_sum(Tensor& t) {
  if (one_rank()) return;
  ++g_transported;
#ifdef DCSR_HAVE_NCCL
  if (t.device() == Device::CUDA) return nccl_allreduce(t);
#endif
#ifdef DCSR_HAVE_MPI
  DCSR_CHECK(t.device() == Device::CPU, "allreduce_sum: a CUDA tensor needs a build with NCCL");
  DCSR_CHECK(t.numel() <= INT32_MAX, "allreduce_sum: ", t.numel(), " elements exceed one MPI message");
  MPI_Request request;
  MPI_Iallreduce(MPI_IN_PLACE, t.raw_data(), int(t.numel()), mpi_type(t.dtype()), MPI_SUM, MPI_COMM_WORLD, &request);
  wait_request(request, "MPI_Iallreduce");
#else
  (void)t;
#endif
}

void allreduce_sum(std::vector<double>& values) {
  if (one_rank() || values.empty()) return;
  Tensor t = from_vector(values, {int64_t(values.size())}, DType::Float64);
  allreduce_sum(t);
  values = t.to_vector<double>();
}

void allreduce_gradients(const std::vector<Tensor>& params) {
  if (one_rank() || params.empty()) return;
  const DType dtype = params[0].dtype();
  const Device device = params[0].device();
  int64_t total = 0;
  for (const Tensor& p : params) {
    DCSR_CHECK(p.dtype() == dtype && p.device() == device, "allreduce_gradients: parameters of mixed dtype or device");
    total += p.numel();
  }
  // Pack: one flat buffer, zeros where a parameter has no gradient.
  Tensor flat = zeros({total}, dtype, device);
  const size_t elem = dtype_size(dtype);
  int64_t offset = 0;
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (g.defined()) {
      runtime::copy_bytes(static_cast<char*>(flat.raw_data()) + size_t(offset) * elem, device, g.raw_data(), device,
                          g.nbytes());
    }
    offset += p.numel();
  }
  allreduce_sum(flat);
  // Unpack into fresh gradient tensors (never mutate a gradient in place:
  // another graph node may still hold it).
  offset = 0;
  for (const Tensor& p : params) {
    Tensor g = empty(p.shape(), dtype, device);
    runtime::copy_bytes(g.raw_data(), device, static_cast<const char*>(flat.raw_data()) + size_t(offset) * elem,
                        device, g.nbytes());
    Tensor handle = p;  // a handle to the same parameter
    handle.set_grad(g);
    offset += p.numel();
  }
}

Tensor allreduce_sum_op(const Tensor& x) {
  if (g_world.size == 1) return x;
  Tensor sum = x.detach().clone();
  allreduce_sum(sum);
  return autograd::record("allreduce_sum", {x}, sum, [](const Tensor& grad) {
    Tensor g = grad.detach().clone();
    allreduce_sum(g);
    return TensorList{g};
  });
}

namespace {
bool g_stand_in = false;
}  // namespace

void set_stand_in_share(bool stand_in) { g_stand_in = stand_in; }

Tensor global_batch_channel_mean(const Tensor& y) {
  if (g_world.size == 1) return mean(y, {0, 2, 3}, true);
  DCSR_CHECK(y.dim() == 4, "global_batch_channel_mean: y must be (N, C, H, W), got ", shape_str(y.shape()));
  // A stand-in share adds zeros (still through the graph, so that its backward
  // joins the collective) and no count.
  Tensor local = sum(y, {0, 2, 3}, true);
  if (g_stand_in) local = mul(local, 0.0);
  std::vector<double> count = {g_stand_in ? 0.0 : double(y.size(0) * y.size(2) * y.size(3))};
  allreduce_sum(count);
  DCSR_CHECK(count[0] > 0, "global_batch_channel_mean: no samples on any rank");
  return mul(allreduce_sum_op(local), 1.0 / count[0]);
}

void broadcast(std::string& value) {
  if (g_world.size == 1) return;
#ifdef DCSR_HAVE_MPI
  int64_t length = int64_t(value.size());
  MPI_Request request;
  MPI_Ibcast(&length, 1, MPI_INT64_T, 0, MPI_COMM_WORLD, &request);
  wait_request(request, "MPI_Ibcast");
  value.resize(size_t(length));
  MPI_Ibcast(value.data(), int(length), MPI_CHAR, 0, MPI_COMM_WORLD, &request);
  wait_request(request, "MPI_Ibcast");
#else
  (void)value;
#endif
}

std::vector<std::string> gather(const std::string& mine) {
  if (g_world.size == 1) return {mine};
  std::vector<std::string> all;
#ifdef DCSR_HAVE_MPI
  int length = int(mine.size());
  std::vector<int> lengths(size_t(g_world.size)), offsets(size_t(g_world.size));
  MPI_Request request;
  MPI_Igather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, 0, MPI_COMM_WORLD, &request);
  wait_request(request, "MPI_Igather");
  int total = 0;
  for (int r = 0; r < g_world.size; ++r) {
    offsets[size_t(r)] = total;
    total += lengths[size_t(r)];
  }
  std::string joined(g_world.is_root() ? size_t(total) : 0, '\0');
  MPI_Igatherv(mine.data(), length, MPI_CHAR, joined.data(), lengths.data(), offsets.data(), MPI_CHAR, 0,
               MPI_COMM_WORLD, &request);
  wait_request(request, "MPI_Igatherv");
  if (g_world.is_root())
    for (int r = 0; r < g_world.size; ++r)
      all.push_back(joined.substr(size_t(offsets[size_t(r)]), size_t(lengths[size_t(r)])));
#endif
  return all;
}

void barrier() {
  if (g_world.size == 1) return;
#ifdef DCSR_HAVE_MPI
  MPI_Request request;
  MPI_Ibarrier(MPI_COMM_WORLD, &request);
  wait_request(request, "MPI_Ibarrier");
#endif
}

bool collectives_always() {
  static const bool always = [] {
    const char* value = std::getenv("DCSR_COLLECTIVES_ALWAYS");
    return value && std::strcmp(value, "1") == 0;
  }();
  return g_mpi_started && always;
}

void set_exit_status_agreed() { g_exit_agreed = true; }

void abort_job_after_timeout(const std::string& what) { abort_job(what.c_str()); }

// ---- messages ----

namespace {
#ifdef DCSR_HAVE_MPI
// Sends in flight: each text stays here (a list: its nodes never move) until
// its request completes.
struct PendingSend {
  MPI_Request request;
  std::string text;
};
std::list<PendingSend> g_sends;

void drop_completed_sends() {
  for (auto it = g_sends.begin(); it != g_sends.end();) {
    int finished = 0;
    MPI_Test(&it->request, &finished, MPI_STATUS_IGNORE);
    it = finished ? g_sends.erase(it) : std::next(it);
  }
}
#endif
}  // namespace

void send(int to, int tag, const std::string& text) {
  DCSR_CHECK(g_world.size > 1 && to >= 0 && to < g_world.size && to != g_world.rank,
             "distributed::send: no rank ", to, " to send to (rank ", g_world.rank, " of ", g_world.size, ")");
#ifdef DCSR_HAVE_MPI
  drop_completed_sends();
  PendingSend& p = g_sends.emplace_back();
  p.text = text;
  MPI_Isend(p.text.data(), int(p.text.size()), MPI_CHAR, to, tag, MPI_COMM_WORLD, &p.request);
#else
  (void)tag;
  (void)text;
#endif
}

bool poll_receive(int& from, int& tag, std::string& text) {
  if (g_world.size == 1) return false;
#ifdef DCSR_HAVE_MPI
  int arrived = 0;
  MPI_Status status;
  MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &arrived, &status);
  if (!arrived) return false;
  int length = 0;
  MPI_Get_count(&status, MPI_CHAR, &length);
  text.assign(size_t(length), '\0');
  // The probed message itself (its source and tag), so nothing can come between.
  MPI_Recv(text.data(), length, MPI_CHAR, status.MPI_SOURCE, status.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  from = status.MPI_SOURCE;
  tag = status.MPI_TAG;
  return true;
#else
  (void)from;
  (void)tag;
  (void)text;
  return false;
#endif
}

void complete_sends() {
#ifdef DCSR_HAVE_MPI
  wait_with_deadline("delivery of this rank's messages", [] {
    drop_completed_sends();
    return g_sends.empty();
  });
#endif
}

}  // namespace dcsr::distributed
