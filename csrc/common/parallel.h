// A small fork-join helper for the CPU kernels: splits [0, n) into contiguous chunks, one per
// thread, when the total work is large enough to pay for starting threads.
#pragma once

#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

namespace deepemotion {

// Below this much work (in output values) one thread is faster than starting others.
constexpr int64_t kMinWorkPerThread = 1 << 15;

// std::thread::hardware_concurrency() reads /sys on every call with glibc (~0.2 ms in a VM): ask once.
inline int64_t hardware_threads() {
  static const int64_t n = std::max<int64_t>(1, static_cast<int64_t>(std::thread::hardware_concurrency()));
  return n;
}

// Calls fn(begin, end) on disjoint ranges covering [0, n). max_threads <= 0: one per hardware thread.
// If a thread cannot be started (out of resources), its range and all later ones run on the calling
// thread instead; every started thread is joined before returning, so nothing is left running.
template <typename Fn>
void parallel_for(int64_t n, int64_t work, int max_threads, Fn fn) {
  if (n <= 0) return;
  int64_t threads = max_threads > 0 ? max_threads : hardware_threads();
  threads = std::max<int64_t>(1, std::min({threads, n, work / kMinWorkPerThread}));
  if (threads == 1) {
    fn(int64_t{0}, n);
    return;
  }
  const int64_t chunk = (n + threads - 1) / threads;
  std::vector<std::thread> pool;
  int64_t inline_from = n;  // ranges from here on run on this thread
  for (int64_t t = 1; t < threads; ++t) {
    const int64_t b = t * chunk, e = std::min(n, b + chunk);
    if (b >= e) break;
    try {
      if (pool.capacity() == 0) pool.reserve(static_cast<size_t>(threads - 1));
      pool.emplace_back(fn, b, e);
    } catch (...) {  // std::system_error (no thread) or std::bad_alloc: do the rest here
      inline_from = b;
      break;
    }
  }
  fn(int64_t{0}, std::min(n, chunk));
  if (inline_from < n) fn(inline_from, n);
  for (auto& th : pool) th.join();
}

}  // namespace deepemotion
