#ifndef MAILDEX_PLATFORM_H
#define MAILDEX_PLATFORM_H
#include <stdint.h>

/// Starts the kernel's write-back of a file's dirty pages in [offset, offset + length)
/// without waiting for it (Linux `sync_file_range(SYNC_FILE_RANGE_WRITE)`), so that a
/// later fsync has less to wait for. Returns 0, or -1 with errno set; a no-op that
/// returns 0 where the call does not exist. It never makes data durable by itself.
int maildex_start_writeback(int fd, int64_t offset, int64_t length);

/// Asks the CPU to load the cache line at `p` (a hint: it never faults, whatever `p`
/// is). For loops whose loads are known several steps ahead, such as hash-table probes.
static inline void maildex_prefetch(const void *p) {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(p);
#else
    (void)p;
#endif
}

/// A flag in a byte array that any thread may read and set at once: a page whose CRC one
/// thread checked is seen as checked by the others (acquire/release; two threads that
/// check the same page at once both set it, which is harmless).
static inline int maildex_flag_get(const uint8_t *flags, int64_t i) {
    return __atomic_load_n(flags + i, __ATOMIC_ACQUIRE);
}
static inline void maildex_flag_set(uint8_t *flags, int64_t i, uint8_t value) {
    __atomic_store_n(flags + i, value, __ATOMIC_RELEASE);
}

#endif
