/* SPDX-License-Identifier: Apache-2.0 */
/* The standard process_* metrics, read from /proc/self. */
#ifndef NFTEXP_PROCSTAT_H
#define NFTEXP_PROCSTAT_H

struct metric_store;
struct procstat;

/* Register the process_* families; NULL with errno. */
struct procstat *procstat_new(struct metric_store *s);
/* Refresh them; a value that cannot be read is left out. 0 or -errno. */
int procstat_update(struct procstat *p);
void procstat_free(struct procstat *p);

#endif
