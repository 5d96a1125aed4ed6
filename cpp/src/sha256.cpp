// SHA-256: the portable block function, the streaming hasher, run-time dispatch, and file
// hashing (bounded buffers, read/hash overlap, change detection, OpenMP across files).
#include "pipeward/sha256.hpp"

#include <fcntl.h>
#include <omp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include "pipeward/cpu_features.hpp"

namespace pipeward::sha256 {

void blocks_portable(uint32_t h[8], const uint8_t* data, size_t nblocks) {
  for (size_t i = 0; i < nblocks; ++i) compress_block(h, data + i * kBlockSize);
}

BlocksFn select_blocks() {
#if defined(PIPEWARD_X86)
  if (isa_enabled(Isa::sha_ni)) return blocks_shani;
#endif
  return blocks_portable;
}

const char* selected_path() { return select_blocks() == blocks_portable ? "portable" : "sha_ni"; }

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
  // Same padding as pad_and_write_digest, but through the dispatched block function.
  const uint64_t bits = s.length * 8u;
  uint8_t tail[2 * kBlockSize] = {};
  std::memcpy(tail, s.buffer, s.buffered);
  tail[s.buffered] = 0x80;
  const size_t total = s.buffered + 1 + 8 <= kBlockSize ? kBlockSize : 2 * kBlockSize;
  for (int i = 0; i < 8; ++i) tail[total - 8 + i] = uint8_t(bits >> (56 - 8 * i));
  select_blocks()(s.h, tail, total / kBlockSize);
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

// read() that retries on EINTR; returns bytes read (0 at end of file) or -errno.
ssize_t read_some(int fd, uint8_t* buf, size_t cap) {
  for (;;) {
    const ssize_t n = ::read(fd, buf, cap);
    if (n >= 0) return n;
    if (errno != EINTR) return -errno;
  }
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Hash from `fd` with one buffer: read a chunk, hash it, repeat.
int hash_sequential(int fd, State& s, uint64_t& total, Progress* progress) {
  std::unique_ptr<uint8_t[]> buf(new uint8_t[kChunk]);
  for (;;) {
    if (progress != nullptr && progress->cancelled.load(std::memory_order_relaxed)) return ECANCELED;
    const ssize_t n = read_some(fd, buf.get(), kChunk);
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

FileDigest hash_path(const char* path, bool overlap, Progress* progress) {
  FileDigest out;
  Fd file;
  do {
    file.fd = ::open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  } while (file.fd < 0 && errno == EINTR);
  if (file.fd < 0) {
    out.error = errno;
    return out;
  }
  struct stat before {};
  if (::fstat(file.fd, &before) != 0) {
    out.error = errno;
    return out;
  }
  if (S_ISDIR(before.st_mode)) {
    out.error = EISDIR;
    return out;
  }
  const bool regular = S_ISREG(before.st_mode);
  if (regular) {
    (void)::posix_fadvise(file.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    // A small file gains nothing from a reader thread.
    overlap = overlap && before.st_size > static_cast<off_t>(2 * kOverlapChunk);
  }

  State s;
  init(s);
  uint64_t total = 0;
  const int error = overlap ? hash_overlapped(file.fd, s, total, progress)
                            : hash_sequential(file.fd, s, total, progress);
  if (error != 0) {
    out.error = error;
    return out;
  }
  struct stat after {};
  if (::fstat(file.fd, &after) != 0) {
    out.error = errno;
    return out;
  }
  if (regular) {
    // A file that grew, shrank or was rewritten while we read it has no single digest.
    // (Files in /proc report st_size 0 but have content: an unchanged size/mtime is trusted.)
    const bool size_moved = before.st_size != after.st_size;
    const bool mtime_moved = mtime_ns(before) != mtime_ns(after);
    const bool short_read = before.st_size != 0 && total != static_cast<uint64_t>(before.st_size);
    // Deleted or replaced (renamed over) while read: the path no longer names these bytes.
    const bool unlinked = after.st_nlink == 0;
    out.changed = size_moved || mtime_moved || short_read || unlinked;
  }
  finish(s, out.digest);
  out.size = total;
  out.mtime_ns = mtime_ns(after);
  if (progress != nullptr) progress->files_done.fetch_add(1, std::memory_order_relaxed);
  return out;
}

std::vector<FileDigest> hash_paths(const std::vector<std::string>& paths, int threads,
                                   Progress* progress, bool keep_going) {
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
    out[i] = hash_path(paths[i].c_str(), overlap, progress);
    if (out[i].error != 0 || out[i].changed) failed.store(true, std::memory_order_relaxed);
  };
  threads = std::max(1, std::min<int>(threads, static_cast<int>(std::max<long>(n, 1))));
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
