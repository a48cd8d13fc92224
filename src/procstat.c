// SPDX-License-Identifier: Apache-2.0
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"
#include "procstat.h"

enum {
	PS_CPU = 0,
	PS_RSS,
	PS_VSZ,
	PS_VSZ_MAX,
	PS_FDS,
	PS_MAX_FDS,
	PS_START,
	PS_THREADS,
	PS_N,
};

static const struct metric_desc ps_desc[PS_N] = {
	[PS_CPU] = { .name = "process_cpu_seconds", .unit = "seconds",
		     .type = METRIC_COUNTER,
		     .help = "Total user and system CPU time spent in seconds." },
	[PS_RSS] = { .name = "process_resident_memory_bytes", .unit = "bytes",
		     .type = METRIC_GAUGE,
		     .help = "Resident memory size in bytes." },
	[PS_VSZ] = { .name = "process_virtual_memory_bytes", .unit = "bytes",
		     .type = METRIC_GAUGE,
		     .help = "Virtual memory size in bytes." },
	[PS_VSZ_MAX] = { .name = "process_virtual_memory_max_bytes",
			 .unit = "bytes", .type = METRIC_GAUGE,
			 .help = "Maximum amount of virtual memory available in bytes." },
	[PS_FDS] = { .name = "process_open_fds", .type = METRIC_GAUGE,
		     .help = "Number of open file descriptors." },
	[PS_MAX_FDS] = { .name = "process_max_fds", .type = METRIC_GAUGE,
			 .help = "Maximum number of open file descriptors." },
	[PS_START] = { .name = "process_start_time_seconds", .unit = "seconds",
		       .type = METRIC_GAUGE,
		       .help = "Start time of the process since unix epoch in seconds." },
	[PS_THREADS] = { .name = "process_threads", .type = METRIC_GAUGE,
			 .help = "Number of OS threads in the process." },
};

struct procstat {
	struct metric_family *f[PS_N];
	struct metric_series *m[PS_N];
	double btime;
};

struct procstat *procstat_new(struct metric_store *s)
{
	struct procstat *p = calloc(1, sizeof(*p));
	char line[256];
	FILE *fp;

	if (!p)
		return NULL;
	for (int i = 0; i < PS_N; i++) {
		p->f[i] = metric_family_add(s, &ps_desc[i]);
		p->m[i] = p->f[i] ? metric_series_get(p->f[i], NULL) : NULL;
		if (!p->m[i]) {
			free(p);
			return NULL;
		}
		metric_family_set_visible(p->f[i], false);
	}
	fp = fopen("/proc/stat", "re");
	while (fp && fgets(line, sizeof(line), fp))
		if (!strncmp(line, "btime ", 6))
			p->btime = strtod(line + 6, NULL);
	if (fp)
		fclose(fp);
	return p;
}

void procstat_free(struct procstat *p)
{
	free(p);
}

static void put(struct procstat *p, int i, double v)
{
	metric_set(p->m[i], v);
	metric_family_set_visible(p->f[i], true);
}

/* "Max open files  1024  1048576  files": soft limit of one row. */
static int limit_of(const char *line, const char *key, double *out)
{
	size_t n = strlen(key);
	const char *v;

	if (strncmp(line, key, n))
		return -ENOENT;
	v = line + n;
	while (*v == ' ')
		v++;
	*out = !strncmp(v, "unlimited", 9) ? 18446744073709551615.0 :
					     strtod(v, NULL);
	return 0;
}

int procstat_update(struct procstat *p)
{
	long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	unsigned long utime, stime, vsize;
	unsigned long long start;
	long threads, rss;
	char buf[1024], *rp;
	struct dirent *de;
	double v;
	FILE *fp;
	DIR *dir;
	int n = 0;

	fp = fopen("/proc/self/stat", "re");
	if (!fp)
		return -errno;
	rp = fgets(buf, sizeof(buf), fp);
	fclose(fp);
	/* comm may contain spaces and parentheses: parse after the last ')' */
	rp = rp ? strrchr(buf, ')') : NULL;
	if (rp && sscanf(rp + 2,
			 "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu "
			 "%*d %*d %*d %*d %ld %*d %llu %lu %ld",
			 &utime, &stime, &threads, &start, &vsize, &rss) == 6) {
		put(p, PS_CPU, (double)(utime + stime) / (double)tck);
		put(p, PS_VSZ, (double)vsize);
		put(p, PS_RSS, (double)rss * (double)page);
		put(p, PS_THREADS, (double)threads);
		if (p->btime > 0)
			put(p, PS_START, p->btime + (double)start / (double)tck);
	}

	dir = opendir("/proc/self/fd");
	if (dir) {
		while ((de = readdir(dir)))
			if (de->d_name[0] != '.')
				n++;
		closedir(dir);
		put(p, PS_FDS, n - 1);	/* minus the opendir fd itself */
	}
	fp = fopen("/proc/self/limits", "re");
	while (fp && fgets(buf, sizeof(buf), fp)) {
		if (!limit_of(buf, "Max open files", &v))
			put(p, PS_MAX_FDS, v);
		else if (!limit_of(buf, "Max address space", &v))
			put(p, PS_VSZ_MAX, v);
	}
	if (fp)
		fclose(fp);
	return 0;
}
