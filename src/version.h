/* SPDX-License-Identifier: Apache-2.0 */
/* Build identity; the Makefile passes the real values with -D. */
#ifndef NFTEXP_VERSION_H
#define NFTEXP_VERSION_H

#ifndef NFTEXP_VERSION
#define NFTEXP_VERSION "0.1.0"
#endif
#ifndef NFTEXP_REVISION
#define NFTEXP_REVISION "unknown"
#endif

#endif
