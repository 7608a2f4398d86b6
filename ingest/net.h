/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file net.h
 * Socket helpers shared by listeners: address parsing ("127.0.0.1:8125", "[::1]:8125",
 * ":8125" for all IPv4 addresses) and bound sockets with the options sluice relies on.
 * Thread: any (control plane).
 */
#ifndef SL_NET_H
#define SL_NET_H

#include <stddef.h>
#include <sys/socket.h>

/** @return 0, or -EINVAL when @s is not HOST:PORT with a numeric host. */
int sl_net_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len);
/** "ip:port" text of @sa into @out. */
void sl_net_format_addr(const struct sockaddr *sa, char *out, size_t cap);

/**
 * A socket of @type (SOCK_DGRAM or SOCK_STREAM) bound to @addr, with SO_REUSEADDR and, when
 * @reuseport, SO_REUSEPORT; streams also listen(). For datagrams, SO_RCVBUF is raised to
 * @rcvbuf (SO_RCVBUFFORCE as root, else capped by net.core.rmem_max, which is logged).
 * @return fd >= 0, or -errno; @err receives a message naming the address and the call.
 */
int sl_net_bind(const char *addr, int type, int reuseport, int rcvbuf, char *err, size_t errlen);

#endif
