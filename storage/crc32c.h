/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file crc32c.h
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every WAL record and
 * block section. Uses the SSE4.2 crc32 instruction when the CPU has it (checked once at
 * first use), else slice-by-8 tables; both give identical results. Thread: any.
 */
#ifndef SL_CRC32C_H
#define SL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/**
 * Extend @crc (0 to start) over @len bytes at @p (BORROWED).
 * sl_crc32c(0, "123456789", 9) == 0xE3069283.
 */
uint32_t sl_crc32c(uint32_t crc, const void *p, size_t len);

#endif
