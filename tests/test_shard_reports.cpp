// The split of a sharded batch over the ranks (dcsr/inference/shard_reports.h):
// largest items first, each to the least-loaded rank. The messages themselves
// need mpirun: tests/test_distributed.cpp runs `mpirun -np 2 dcsr sr` on folders.
#include <algorithm>

#include "dcsr/inference/shard_reports.h"
#include "test_util.h"

using namespace dcsr;

TEST_CASE("shard: assign_by_cost gives the largest items first to the least-loaded rank", "[shard]") {
  // 5 first to rank 0; 3 and 3 to rank 1 (6); 2 to rank 0 (7); 0 to rank 1.
  CHECK(assign_by_cost({5, 3, 3, 2, 0}, 2) == std::vector<int>{0, 1, 1, 0, 1});
  // Equal costs alternate in item order; one rank takes everything.
  CHECK(assign_by_cost({4, 4, 4, 4, 4}, 2) == std::vector<int>{0, 1, 0, 1, 0});
  CHECK(assign_by_cost({9, 1, 7}, 1) == std::vector<int>{0, 0, 0});
  CHECK(assign_by_cost({}, 3).empty());
  // More ranks than items: each item its own rank, the largest on rank 0.
  CHECK(assign_by_cost({1, 8}, 4) == std::vector<int>{1, 0});
  CHECK_THROWS_WITH(assign_by_cost({1}, 0), Catch::Contains("0 ranks"));
}

TEST_CASE("shard: the ranks' totals differ by at most the largest item", "[shard]") {
  Generator gen(3);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<int64_t> costs(size_t(1 + trial % 13));
    for (int64_t& c : costs) c = int64_t(uniform({1}, gen).item() * 100);
    const int ranks = 1 + trial % 4;
    const std::vector<int> owner = assign_by_cost(costs, ranks);
    REQUIRE(owner.size() == costs.size());
    std::vector<int64_t> load(size_t(ranks), 0);
    for (size_t k = 0; k < costs.size(); ++k) {
      REQUIRE((owner[k] >= 0 && owner[k] < ranks));
      load[size_t(owner[k])] += costs[k];
    }
    const int64_t largest = *std::max_element(costs.begin(), costs.end());
    INFO("trial " << trial);
    CHECK(*std::max_element(load.begin(), load.end()) - *std::min_element(load.begin(), load.end()) <= largest);
  }
}
