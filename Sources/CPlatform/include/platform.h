#ifndef MAILDEX_PLATFORM_H
#define MAILDEX_PLATFORM_H
#include <stdint.h>

/// Starts the kernel's write-back of a file's dirty pages in [offset, offset + length)
/// without waiting for it (Linux `sync_file_range(SYNC_FILE_RANGE_WRITE)`), so that a
/// later fsync has less to wait for. Returns 0, or -1 with errno set; a no-op that
/// returns 0 where the call does not exist. It never makes data durable by itself.
int maildex_start_writeback(int fd, int64_t offset, int64_t length);

#endif
