// SHA-256: the portable block function, the streaming hasher, run-time dispatch, and file
// hashing (bounded buffers, read/hash overlap, change detection, OpenMP across files).
#include "pipeward/sha256.hpp"

#include <fcntl.h>
#include <omp.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include "pipeward/dispatch.hpp"

namespace pipeward::sha256 {

void blocks_portable(uint32_t h[8], const uint8_t* data, size_t nblocks) {
  for (size_t i = 0; i < nblocks; ++i) compress_block(h, data + i * kBlockSize);
}

// Lane by lane through the single-stream block function: only here so that every machine has
// the multi-buffer kernel.
void blocks_x16_portable(uint32_t state[8][16], const uint8_t* const data[16], size_t nblocks) {
  for (int j = 0; j < 16; ++j) {
    uint32_t h[8];
    for (int k = 0; k < 8; ++k) h[k] = state[k][j];
    select_blocks()(h, data[j], nblocks);
    for (int k = 0; k < 8; ++k) state[k][j] = h[k];
  }
}

namespace {
const Variants<BlocksFn> kBlocks{blocks_portable, PIPEWARD_SHA_NI(blocks_shani)};
const Variants<BlocksX16Fn> kBlocksX16{blocks_x16_portable, PIPEWARD_AVX512(blocks_x16_avx512)};
}  // namespace

BlocksFn select_blocks() { return kBlocks.select(); }

const char* selected_path() { return isa_name(kBlocks.selected_isa()); }

bool multibuffer_enabled() { return kBlocksX16.selected_isa() != Isa::portable; }

void update(State& s, const uint8_t* data, size_t len) {
  if (len == 0) return;
  const BlocksFn blocks = select_blocks();
  s.length += len;
  if (s.buffered > 0) {
    const size_t take = std::min<size_t>(kBlockSize - s.buffered, len);
    std::memcpy(s.buffer + s.buffered, data, take);
    s.buffered += static_cast<uint32_t>(take);
    data += take;
    len -= take;
    if (s.buffered < kBlockSize) return;
    blocks(s.h, s.buffer, 1);
    s.buffered = 0;
  }
  const size_t whole = len / kBlockSize;
  if (whole > 0) blocks(s.h, data, whole);
  const size_t rest = len - whole * kBlockSize;
  std::memcpy(s.buffer, data + whole * kBlockSize, rest);
  s.buffered = static_cast<uint32_t>(rest);
}

void finish(State& s, uint8_t out[kDigestSize]) {
  const BlocksFn blocks = select_blocks();
  if (blocks == blocks_portable) {
    pad_and_write_digest(s, out);  // the host/device code the CUDA kernel uses: tested here
    return;
  }
  // The same padding, through the dispatched block function.
  const uint64_t bits = s.length * 8u;
  uint8_t tail[2 * kBlockSize] = {};
  std::memcpy(tail, s.buffer, s.buffered);
  tail[s.buffered] = 0x80;
  const size_t total = s.buffered + 1 + 8 <= kBlockSize ? kBlockSize : 2 * kBlockSize;
  for (int i = 0; i < 8; ++i) tail[total - 8 + i] = uint8_t(bits >> (56 - 8 * i));
  blocks(s.h, tail, total / kBlockSize);
  for (int i = 0; i < 8; ++i) store_be32(out + 4 * i, s.h[i]);
}

void digest(const uint8_t* data, size_t len, uint8_t out[kDigestSize]) {
  State s;
  init(s);
  update(s, data, len);
  finish(s, out);
}

// ------------------------------------------------------------------------------------------
// Files
// ------------------------------------------------------------------------------------------
namespace {

// Reads of this size keep the chunk in L2 while it is hashed (the no-overlap path), and amortise
// the system call; the overlapped path uses two larger chunks so the reader thread stays ahead.
constexpr size_t kChunk = 256 * 1024;
constexpr size_t kOverlapChunk = 1024 * 1024;

int64_t mtime_ns(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

int64_t ctime_ns(const struct stat& st) {
  return static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
}

// read() that retries on EINTR; returns bytes read (0 at end of file) or -errno.
ssize_t read_some(int fd, uint8_t* buf, size_t cap) {
  for (;;) {
    const ssize_t n = ::read(fd, buf, cap);
    if (n >= 0) return n;
    if (errno != EINTR) return -errno;
  }
}

// How long one wait for a special file's data lasts before the cancel flag is looked at.
constexpr int kPollMs = 100;

// read() from a non-blocking special file (FIFO, character device): waits in poll() for data
// or the writer's close, looking at the cancel flag between waits, so a FIFO without a writer
// never holds the thread beyond a cancel. Bytes read (0 at end of file) or -errno.
ssize_t read_waiting(int fd, uint8_t* buf, size_t cap, const Progress* progress) {
  for (;;) {
    if (progress != nullptr && progress->cancelled.load(std::memory_order_relaxed)) return -ECANCELED;
    struct pollfd p {fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, kPollMs);
    if (ready < 0 && errno != EINTR) return -errno;
    if (ready <= 0) continue;
    const ssize_t n = ::read(fd, buf, cap);
    if (n >= 0) return n;
    if (errno != EINTR && errno != EAGAIN) return -errno;
  }
}

// An owned file descriptor, closed when dropped or replaced.
struct Fd {
  int fd = -1;
  Fd() = default;
  Fd(const Fd&) = delete;
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      if (fd >= 0) ::close(fd);
      fd = other.fd;
      other.fd = -1;
    }
    return *this;
  }
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Hash from `fd` with one buffer: read a chunk, hash it, repeat. `special`: fd is a
// non-blocking FIFO or device, read with read_waiting.
int hash_sequential(int fd, State& s, uint64_t& total, Progress* progress, bool special = false) {
  std::unique_ptr<uint8_t[]> buf(new uint8_t[kChunk]);
  for (;;) {
    if (progress != nullptr && progress->cancelled.load(std::memory_order_relaxed)) return ECANCELED;
    const ssize_t n = special ? read_waiting(fd, buf.get(), kChunk, progress)
                              : read_some(fd, buf.get(), kChunk);
    if (n < 0) return static_cast<int>(-n);
    if (n == 0) return 0;
    update(s, buf.get(), static_cast<size_t>(n));
    total += static_cast<uint64_t>(n);
    if (progress != nullptr) progress->bytes_done.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
  }
}

// Hash from `fd` with two buffers: a reader thread fills one while this thread hashes the other.
int hash_overlapped(int fd, State& s, uint64_t& total, Progress* progress) {
  struct Slot {
    std::unique_ptr<uint8_t[]> data{new uint8_t[kOverlapChunk]};
    ssize_t len = 0;   // bytes, 0 at end of file, -errno on error
    bool full = false;
  };
  Slot slots[2];
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;

  std::thread reader([&] {
    for (size_t i = 0;; ++i) {
      Slot& slot = slots[i & 1];
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return !slot.full || stop; });
        if (stop) return;
      }
      const ssize_t n = read_some(fd, slot.data.get(), kOverlapChunk);
      {
        std::lock_guard<std::mutex> lock(mu);
        slot.len = n;
        slot.full = true;
      }
      cv.notify_all();
      if (n <= 0) return;
    }
  });

  int error = 0;
  for (size_t i = 0;; ++i) {
    Slot& slot = slots[i & 1];
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return slot.full; });
    }
    if (slot.len < 0) { error = static_cast<int>(-slot.len); break; }
    if (slot.len == 0) break;
    update(s, slot.data.get(), static_cast<size_t>(slot.len));
    total += static_cast<uint64_t>(slot.len);
    if (progress != nullptr) {
      progress->bytes_done.fetch_add(static_cast<uint64_t>(slot.len), std::memory_order_relaxed);
      if (progress->cancelled.load(std::memory_order_relaxed)) { error = ECANCELED; break; }
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      slot.full = false;
    }
    cv.notify_all();
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    stop = true;
  }
  cv.notify_all();
  reader.join();
  return error;
}

}  // namespace

namespace {

// Opens `path` for hashing and takes its "before" fstat; returns 0 or an errno value. A file
// that is not a regular file is refused (kNotRegular) unless `allow_special`. O_NONBLOCK keeps
// the open from blocking: opening a FIFO without it waits until a writer comes.
int open_for_hashing(const char* path, Fd& file, struct stat& before, bool allow_special) {
  do {
    file.fd = ::open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  } while (file.fd < 0 && errno == EINTR);
  if (file.fd < 0) return errno;
  if (::fstat(file.fd, &before) != 0) return errno;
  if (S_ISDIR(before.st_mode)) return EISDIR;
  if (S_ISREG(before.st_mode)) {
    (void)::posix_fadvise(file.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return 0;
  }
  return allow_special ? 0 : kNotRegular;
}

// After the last byte: the "after" fstat, the change checks and the digest.
void finish_file(FileDigest& out, const char* path, int fd, const struct stat& before,
                 uint64_t total, State& s, Progress* progress) {
  struct stat after {};
  if (::fstat(fd, &after) != 0) {
    out.error = errno;
    return;
  }
  if (S_ISREG(before.st_mode)) {
    // A file that grew, shrank or was rewritten while we read it has no single digest.
    // (Files in /proc report st_size 0 but have content: an unchanged size/mtime is trusted.)
    const bool size_moved = before.st_size != after.st_size;
    const bool mtime_moved = mtime_ns(before) != mtime_ns(after);
    // Any write or utime() moves ctime, which user space cannot set back: this catches a
    // same-size rewrite in place that restores mtime (touch -d), which the checks above miss.
    const bool ctime_moved = ctime_ns(before) != ctime_ns(after);
    const bool short_read = before.st_size != 0 && total != static_cast<uint64_t>(before.st_size);
    // Deleted, or replaced (renamed over, even keeping other links) while read: the path no
    // longer names these bytes.
    struct stat named {};
    const bool unlinked = after.st_nlink == 0 || ::stat(path, &named) != 0 ||
                          named.st_ino != after.st_ino || named.st_dev != after.st_dev;
    out.changed = size_moved || mtime_moved || ctime_moved || short_read || unlinked;
  }
  finish(s, out.digest);
  out.size = total;
  out.mtime_ns = mtime_ns(after);
  if (progress != nullptr) progress->files_done.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

FileDigest hash_path(const char* path, bool overlap, Progress* progress, bool allow_special) {
  FileDigest out;
  Fd file;
  struct stat before {};
  out.error = open_for_hashing(path, file, before, allow_special);
  if (out.error != 0) return out;
  const bool special = !S_ISREG(before.st_mode);
  // A small file gains nothing from a reader thread; a special file is read as it comes.
  overlap = overlap && !special && before.st_size > static_cast<off_t>(2 * kOverlapChunk);
  State s;
  init(s);
  uint64_t total = 0;
  out.error = overlap ? hash_overlapped(file.fd, s, total, progress)
                      : hash_sequential(file.fd, s, total, progress, special);
  if (out.error == 0) finish_file(out, path, file.fd, before, total, s, progress);
  return out;
}

namespace {

// Multi-buffer file hashing: one thread keeps up to 16 files in flight, reads a chunk of each
// and hashes their blocks in lock-step with blocks_x16_avx512. Files come from a shared queue
// (`next`), so several threads can run this loop side by side.
constexpr int kLanes = 16;
constexpr size_t kLaneChunk = 64 * 1024;  // x16 lanes = 1 MiB of buffers: stays in L2
// With fewer live files than this, hashing each on its own (SHA-NI) is faster.
constexpr int kMinLanes = 8;

// read() until `cap` bytes or end of file; bytes read or -errno.
ssize_t read_full(int fd, uint8_t* buf, size_t cap) {
  size_t got = 0;
  while (got < cap) {
    const ssize_t n = read_some(fd, buf + got, cap - got);
    if (n < 0) return n;
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(got);
}

struct Lane {
  long index = -1;  // file in this lane, -1 when free
  Fd file;
  struct stat before {};
  uint64_t total = 0;  // bytes read so far
  std::unique_ptr<uint8_t[]> buf{new uint8_t[kLaneChunk]};
  size_t pos = 0, len = 0;  // buf[pos, len) is read but not hashed; pos is block-aligned
  bool eof = false;
};

struct MultiBufferJob {
  const std::vector<std::string>& paths;
  std::vector<FileDigest>& out;
  std::atomic<long>& next;
  std::atomic<bool>& failed;
  Progress* progress;
  bool keep_going;
  bool allow_special;

  bool stopping() const {
    return (progress != nullptr && progress->cancelled.load(std::memory_order_relaxed)) ||
           (!keep_going && failed.load(std::memory_order_relaxed));
  }

  void fail(Lane& lane, int error) {
    out[lane.index].error = error;
    failed.store(true, std::memory_order_relaxed);
    lane.file = Fd{};
    lane.index = -1;
  }

  // Put the next queued file in a free lane; false when the queue is empty (or stopping).
  bool take(Lane& lane, uint32_t (*hx)[kLanes], int slot) {
    for (;;) {
      if (stopping()) return false;
      const long i = next.fetch_add(1);
      if (i >= static_cast<long>(paths.size())) return false;
      out[i] = FileDigest{};
      lane.index = i;
      const int error = open_for_hashing(paths[i].c_str(), lane.file, lane.before, allow_special);
      if (error != 0) {
        fail(lane, error);
        continue;
      }
      lane.total = 0;
      lane.pos = lane.len = 0;
      lane.eof = false;
      uint32_t h0[8];
      initial_state(h0);
      for (int k = 0; k < 8; ++k) hx[k][slot] = h0[k];
      if (!S_ISREG(lane.before.st_mode)) {  // a FIFO or device: read as it comes, on its own
        finish_single(lane, hx, slot);
        continue;
      }
      return true;
    }
  }

  // The lane's stream as a single-stream State: chaining value from column `slot` of hx.
  static State column_state(const Lane& lane, uint32_t (*hx)[kLanes], int slot) {
    State s;
    init(s);
    for (int k = 0; k < 8; ++k) s.h[k] = hx[k][slot];
    s.length = lane.total - (lane.len - lane.pos);
    return s;
  }

  // Finish a lane on the single-stream path: what is buffered, then the rest of the file.
  void finish_single(Lane& lane, uint32_t (*hx)[kLanes], int slot) {
    State s = column_state(lane, hx, slot);
    update(s, lane.buf.get() + lane.pos, lane.len - lane.pos);
    if (!lane.eof) {
      const int error = hash_sequential(lane.file.fd, s, lane.total, progress,
                                        !S_ISREG(lane.before.st_mode));
      if (error != 0) {
        fail(lane, error);
        return;
      }
    }
    FileDigest& r = out[lane.index];
    finish_file(r, paths[lane.index].c_str(), lane.file.fd, lane.before, lane.total, s, progress);
    if (r.error != 0 || r.changed) failed.store(true, std::memory_order_relaxed);
    lane.file = Fd{};
    lane.index = -1;
  }

  void run() {
    const BlocksX16Fn blocks_x16 = kBlocksX16.select();
    Lane lanes[kLanes];
    alignas(64) uint32_t hx[8][kLanes] = {};
    std::unique_ptr<uint8_t[]> idle(new uint8_t[kLaneChunk]());  // what free lanes hash
    bool queue_open = true;
    for (;;) {
      if (progress != nullptr && progress->cancelled.load(std::memory_order_relaxed)) {
        for (Lane& lane : lanes) if (lane.index >= 0) fail(lane, ECANCELED);
        return;
      }
      int live = 0;
      for (int j = 0; j < kLanes; ++j) {
        Lane& lane = lanes[j];
        if (lane.index < 0 && queue_open && !take(lane, hx, j)) queue_open = false;
        if (lane.index < 0) continue;
        if (lane.pos == lane.len && !lane.eof) {
          const ssize_t n = read_full(lane.file.fd, lane.buf.get(), kLaneChunk);
          if (n < 0) {
            fail(lane, static_cast<int>(-n));
            continue;
          }
          lane.pos = 0;
          lane.len = static_cast<size_t>(n);
          lane.eof = lane.len < kLaneChunk;
          lane.total += lane.len;
          if (progress != nullptr) progress->bytes_done.fetch_add(lane.len, std::memory_order_relaxed);
        }
        if (lane.eof && lane.len - lane.pos < kBlockSize) {
          finish_single(lane, hx, j);  // only the last partial block is left
          continue;
        }
        ++live;
      }
      if (live == 0) {
        if (!queue_open) return;
        continue;
      }
      if (live < kMinLanes && !queue_open) {
        for (int j = 0; j < kLanes; ++j) if (lanes[j].index >= 0) finish_single(lanes[j], hx, j);
        return;
      }
      size_t blocks = kLaneChunk / kBlockSize;
      const uint8_t* data[kLanes];
      for (int j = 0; j < kLanes; ++j) {
        const Lane& lane = lanes[j];
        if (lane.index < 0) {
          data[j] = idle.get();
        } else {
          data[j] = lane.buf.get() + lane.pos;
          blocks = std::min(blocks, (lane.len - lane.pos) / kBlockSize);
        }
      }
      blocks_x16(hx, data, blocks);
      for (Lane& lane : lanes) if (lane.index >= 0) lane.pos += blocks * kBlockSize;
    }
  }
};

}  // namespace

namespace {

// Lock-step hashing of many in-memory messages on one thread: up to 16 in flight; a message
// whose whole blocks are done is finished on its own (its tail and padding) and its lane is
// given the next one from the shared queue.
struct MessageLanes {
  const uint8_t* const* data;
  const size_t* len;
  long count;
  uint8_t* out;
  std::atomic<long>& next;

  void run() const {
    constexpr size_t kMaxStep = 64;  // blocks per lock-step call: the idle lanes' buffer
    const BlocksX16Fn blocks_x16 = kBlocksX16.select();
    alignas(64) uint32_t hx[8][kLanes] = {};
    static const uint8_t idle[kMaxStep * kBlockSize] = {};
    long index[kLanes];
    size_t done[kLanes];  // bytes of whole blocks hashed so far
    bool queue_open = true;
    const auto finish_lane = [&](int j) {
      State s;
      init(s);
      for (int k = 0; k < 8; ++k) s.h[k] = hx[k][j];
      s.length = done[j];
      const long i = index[j];
      update(s, data[i] + done[j], len[i] - done[j]);
      finish(s, out + static_cast<size_t>(i) * kDigestSize);
      index[j] = -1;
    };
    const auto take = [&](int j) {
      index[j] = -1;
      if (!queue_open) return;
      const long i = next.fetch_add(1);
      if (i >= count) {
        queue_open = false;
        return;
      }
      index[j] = i;
      done[j] = 0;
      uint32_t h0[8];
      initial_state(h0);
      for (int k = 0; k < 8; ++k) hx[k][j] = h0[k];
    };
    for (int j = 0; j < kLanes; ++j) take(j);
    for (;;) {
      int live = 0;
      size_t step = kMaxStep;
      for (int j = 0; j < kLanes; ++j) {
        // Finish lanes with no whole block left, refilling them until one has work.
        while (index[j] >= 0 && (len[index[j]] - done[j]) / kBlockSize == 0) {
          finish_lane(j);
          take(j);
        }
        if (index[j] < 0) continue;
        ++live;
        step = std::min(step, (len[index[j]] - done[j]) / kBlockSize);
      }
      if (live == 0) return;
      if (live < kMinLanes && !queue_open) {
        for (int j = 0; j < kLanes; ++j) if (index[j] >= 0) finish_lane(j);
        return;
      }
      const uint8_t* ptr[kLanes];
      for (int j = 0; j < kLanes; ++j) ptr[j] = index[j] >= 0 ? data[index[j]] + done[j] : idle;
      blocks_x16(hx, ptr, step);
      for (int j = 0; j < kLanes; ++j) if (index[j] >= 0) done[j] += step * kBlockSize;
    }
  }
};

}  // namespace

void digest_many(const uint8_t* const* data, const size_t* len, size_t n, uint8_t* out,
                 int threads) {
  const long count = static_cast<long>(n);
  threads = std::max(1, std::min<int>(threads, static_cast<int>(std::max<long>(count, 1))));
  if (!multibuffer_enabled() || count < kMinLanes) {
    // One message per call to the single-stream path (SHA-NI where the CPU has it).
#pragma omp parallel for schedule(dynamic, 16) num_threads(threads) if (threads > 1)
    for (long i = 0; i < count; ++i) digest(data[i], len[i], out + i * kDigestSize);
    return;
  }
  std::atomic<long> next{0};
  const MessageLanes job{data, len, count, out, next};
  if (threads == 1) {
    job.run();
    return;
  }
#pragma omp parallel num_threads(threads)
  job.run();
}

std::vector<FileDigest> hash_paths(const std::vector<std::string>& paths, int threads,
                                   Progress* progress, bool keep_going, bool allow_special) {
  const long n = static_cast<long>(paths.size());
  std::vector<FileDigest> out(paths.size());
  std::atomic<bool> failed{false};
  const auto hash_one = [&](long i, bool overlap) {
    const bool cancelled = progress != nullptr && progress->cancelled.load();
    if (cancelled || (!keep_going && failed.load(std::memory_order_relaxed))) {
      out[i].skipped = true;
      out[i].error = ECANCELED;
      return;
    }
    out[i] = hash_path(paths[i].c_str(), overlap, progress, allow_special);
    if (out[i].error != 0 || out[i].changed) failed.store(true, std::memory_order_relaxed);
  };
  threads = std::max(1, std::min<int>(threads, static_cast<int>(std::max<long>(n, 1))));
  if (multibuffer_enabled() && n >= static_cast<long>(kMinLanes) * threads) {
    // Enough files for every thread to keep its lanes full. Files never taken (after a
    // failure or a cancel) stay marked as skipped.
    for (FileDigest& r : out) {
      r.skipped = true;
      r.error = ECANCELED;
    }
    std::atomic<long> next{0};
    MultiBufferJob job{paths, out, next, failed, progress, keep_going, allow_special};
#pragma omp parallel num_threads(threads)
    job.run();
    return out;
  }
  if (threads == 1) {
    // One file at a time gains from a reader thread. (No OpenMP region: this path is also
    // safe in a forked child.)
    for (long i = 0; i < n; ++i) hash_one(i, true);
    return out;
  }
  // With a thread per file the threads already overlap one another's reads and hashing.
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (long i = 0; i < n; ++i) hash_one(i, false);
  return out;
}

}  // namespace pipeward::sha256
