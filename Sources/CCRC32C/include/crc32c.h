#ifndef MAILDEX_CRC32C_H
#define MAILDEX_CRC32C_H
#include <stddef.h>
#include <stdint.h>

/// Whether this CPU has the CRC-32C instruction (x86-64 SSE4.2).
int maildex_crc32c_hardware(void);

/// Continues a CRC-32C over `n` bytes with the CPU's instruction. `crc` is the running
/// register value (already inverted, as the caller keeps it). Call only when
/// `maildex_crc32c_hardware()` says so.
uint32_t maildex_crc32c_update_hw(uint32_t crc, const void *bytes, size_t n);

#endif
