// Calls the Swift Glibc module does not expose (they need _GNU_SOURCE).
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include "platform.h"

int maildex_start_writeback(int fd, int64_t offset, int64_t length) {
#if defined(__linux__)
    // WRITE alone only starts write-back: it waits for nothing and leaves any write
    // error recorded for the fsync that follows (adding a WAIT flag would change that).
    return sync_file_range(fd, (off_t)offset, (off_t)length, SYNC_FILE_RANGE_WRITE);
#else
    (void)fd; (void)offset; (void)length;
    return 0;
#endif
}
