/*
 * render: snapshots of the stats segment and their table, JSON and
 * Prometheus forms.  One list of fields (fields[] below) says which value
 * of a worker row each output shows, under which name, whether it is a
 * counter or a gauge and whether it adds up into the totals; the three
 * printers walk that list instead of spelling the counters out each.
 */
#include "render.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#define SNAPSHOT_TRIES 5

/* ---- snapshot ---- */

static void
copy_counters(struct stats_counters *d, const struct stats_counters *s)
{
	for (int i = 0; i < STATS_NCOUNTERS; i++)
		d->all[i] = stats_get(&s->all[i]);
}

/*
 * A worker's links, as data: the count is bounded and a name is cut to
 * its buffer and kept to the characters a backend name may have (config's
 * valid_name), so what a worker wrote can never break the JSON or the
 * Prometheus output.
 */
static void
copy_links(struct stats_slot *d, const struct stats_slot *s)
{
	uint32_t n = __atomic_load_n(&s->nlinks, __ATOMIC_RELAXED);

	d->nlinks = n > STATS_MAX_LINKS ? STATS_MAX_LINKS : n;
	for (uint32_t i = 0; i < d->nlinks; i++) {
		const struct stats_link *sl = &s->links[i];
		struct stats_link *dl = &d->links[i];

		for (size_t k = 0; k + 1 < sizeof(dl->name); k++) {
			char c = __atomic_load_n(&sl->name[k], __ATOMIC_RELAXED);
			if (c == '\0')
				break;
			dl->name[k] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-' ? c : '?';
		}
		dl->state = __atomic_load_n(&sl->state, __ATOMIC_RELAXED);
		dl->reconnects = stats_get(&sl->reconnects);
		dl->events_sent = stats_get(&sl->events_sent);
		dl->commands_applied = stats_get(&sl->commands_applied);
		dl->bytes_pending = stats_get(&sl->bytes_pending);
		dl->clients_paused = stats_get(&sl->clients_paused);
	}
}

/* field by field with atomic loads: the slot is being written while we read */
static void
copy_slot(struct stats_slot *d, const struct stats_slot *s)
{
	/* zeroed padding, so two copies of the same values compare equal */
	memset(d, 0, sizeof(*d));
	d->pid = __atomic_load_n(&s->pid, __ATOMIC_RELAXED);
	d->state = __atomic_load_n(&s->state, __ATOMIC_RELAXED);
	d->worker = __atomic_load_n(&s->worker, __ATOMIC_RELAXED);
	d->generation = stats_get(&s->generation);
	d->restarts = stats_get(&s->restarts);
	d->started_ms = stats_get(&s->started_ms);
	d->loop_ms = stats_get(&s->loop_ms);
	d->connections = stats_get(&s->connections);
	d->config_generation = stats_get(&s->config_generation);
	copy_counters(&d->cur, &s->cur);
	copy_counters(&d->dead, &s->dead);
	copy_links(d, s);
}

/* one pass; 1 when a second look at the segment finds exactly the same */
static int
take_once(struct render_snapshot *snap, const struct stats_seg *seg)
{
	const struct stats_header *h = seg->hdr;
	struct stats_slot again;
	/* the count stats_open validated, never the header's: that one may change */
	uint32_t nslots = seg->nslots, n = 0, k = 0;

	/* the header as stats_open read and checked it; only the generation is watched live */
	snap->master_pid = seg->head.master_pid;
	snap->workers_configured = seg->head.nworkers;
	snap->start_time = seg->head.start_time;
	snap->start_mono_ms = seg->head.start_mono_ms;
	snap->config_generation = stats_get(&h->config_generation);
	for (uint32_t p = 0; p < nslots && n < STATS_MAX_WORKERS; p++) {
		if (__atomic_load_n(&stats_slot_at(seg, p)->state, __ATOMIC_RELAXED) == WS_EMPTY)
			continue;
		copy_slot(&snap->slot[n], stats_slot_at(seg, p));
		snap->phys[n++] = p;
	}
	snap->nslots = n;
	snap->now_ms = clock_now_ms();

	if (snap->config_generation != stats_get(&h->config_generation))
		return 0;
	for (uint32_t p = 0; p < nslots && k < STATS_MAX_WORKERS; p++) {
		copy_slot(&again, stats_slot_at(seg, p));
		if (again.state == WS_EMPTY) {
			if (k < n && snap->phys[k] == p)
				return 0;
			continue;
		}
		if (k >= n || snap->phys[k] != p ||
		    memcmp(&again, &snap->slot[k], sizeof(again)) != 0)
			return 0;
		k++;
	}
	return k == n;
}

struct take {
	struct render_snapshot *snap;
	const struct stats_seg *seg;
};

/* every read of the mapping happens in here, under stats_guarded */
static void
take_passes(void *arg)
{
	struct take *t = arg;

	/*
	 * A busy worker changes its counters all the time, so the passes may
	 * never agree; they only need to agree when the master is folding or
	 * merging a slot, which takes microseconds.
	 */
	for (int i = 0; i < SNAPSHOT_TRIES && !take_once(t->snap, t->seg); i++)
		;
}

int
render_snapshot_take(struct render_snapshot *snap, const struct stats_seg *seg)
{
	struct take t = { snap, seg };
	uint32_t n = 0;

	if (stats_guarded(take_passes, &t) == -1) {
		snap->nslots = 0;
		return -1;
	}
	/* a slot freed between the state check and the copy */
	for (uint32_t i = 0; i < snap->nslots; i++) {
		if (snap->slot[i].state == WS_EMPTY)
			continue;
		if (n != i) {
			snap->slot[n] = snap->slot[i];
			snap->phys[n] = snap->phys[i];
		}
		n++;
	}
	snap->nslots = n;
	return 0;
}

/* ---- rows and fields ---- */

/* what the printers show of one slot (or of the sum of all: the total row) */
struct row {
	uint32_t worker;
	int32_t pid;
	uint32_t state;
	uint64_t connections;
	uint64_t restarts;
	uint64_t loop_age_ms;
	uint64_t generation;
	uint64_t config_generation;
	struct stats_counters life;	/* the slot's lifetime: dead processes + this one */
	struct stats_counters cur;	/* this process only */
	uint32_t nlinks;		/* backend links of this process */
	const struct stats_link *links;	/* in the snapshot */
};

#define FIELD_TOTAL	0x01	/* adds up into the totals */
#define FIELD_COUNTER	0x02	/* Prometheus counter (NAME_total); a gauge otherwise */
#define FIELD_REASONS	0x04	/* an array indexed by enum close_reason */
#define FIELD_COUNTS	0x08	/* lives in row.life: row.cur has the same for "this_worker" */
#define FIELD_LIVE	0x10	/* means nothing once the process has exited */

struct field {
	const char *key;	/* JSON key and Prometheus name; NULL = table only */
	const char *column;	/* table heading; NULL = not in the table */
	const char *help;	/* Prometheus HELP; NULL = not exported per worker */
	size_t off;		/* of the uint64_t (or the array) in struct row */
	unsigned flags;
};

#define ROW_OFF(member) offsetof(struct row, member)

static const struct field fields[] = {
	{ "connections", "conns", "Client connections open now.",
	    ROW_OFF(connections), FIELD_TOTAL },
	{ "accepted", "accepted", "Client connections accepted.",
	    ROW_OFF(life.accepted), FIELD_TOTAL | FIELD_COUNTER | FIELD_COUNTS },
	{ "closed", "closed", "Client connections closed, by reason.",
	    ROW_OFF(life.closed), FIELD_TOTAL | FIELD_COUNTER | FIELD_COUNTS | FIELD_REASONS },
	{ NULL, "hb_close", NULL,
	    ROW_OFF(life.closed[CLOSE_HEARTBEAT]), FIELD_TOTAL },
	{ "messages_in", NULL, "Complete messages received from clients.",
	    ROW_OFF(life.messages_in), FIELD_TOTAL | FIELD_COUNTER | FIELD_COUNTS },
	{ "messages_out", NULL, "Messages sent to clients.",
	    ROW_OFF(life.messages_out), FIELD_TOTAL | FIELD_COUNTER | FIELD_COUNTS },
	{ "bytes_in", NULL, "Bytes read from clients.",
	    ROW_OFF(life.bytes_in), FIELD_TOTAL | FIELD_COUNTER | FIELD_COUNTS },
	{ "bytes_out", NULL, "Bytes written to clients.",
	    ROW_OFF(life.bytes_out), FIELD_TOTAL | FIELD_COUNTER | FIELD_COUNTS },
	{ "protocol_errors", NULL, "Protocol errors seen (bad magic, version, type or size).",
	    ROW_OFF(life.protocol_errors), FIELD_TOTAL | FIELD_COUNTER | FIELD_COUNTS },
	{ "restarts", "restarts", "Respawns of the worker slot after its process died.",
	    ROW_OFF(restarts), FIELD_TOTAL | FIELD_COUNTER },
	{ "loop_age_ms", "loop_age", NULL, ROW_OFF(loop_age_ms), FIELD_LIVE },
	{ "generation", NULL, NULL, ROW_OFF(generation), 0 },
	{ "config_generation", NULL, NULL, ROW_OFF(config_generation), 0 },
};

#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static uint64_t
field_value(const struct row *r, const struct field *f, int reason)
{
	return ((const uint64_t *)(const void *)((const char *)r + f->off))[reason];
}

/* a reasons field as one number (the table's "closed", this_worker's "closed") */
static uint64_t
field_value_sum(const struct row *r, const struct field *f)
{
	uint64_t sum = 0;

	if (!(f->flags & FIELD_REASONS))
		return field_value(r, f, 0);
	for (int i = 0; i < CLOSE_NREASONS; i++)
		sum += field_value(r, f, i);
	return sum;
}

static void
make_row(struct row *r, const struct render_snapshot *snap, const struct stats_slot *s)
{
	uint64_t stamp = s->loop_ms != 0 ? s->loop_ms : s->started_ms;

	memset(r, 0, sizeof(*r));
	r->worker = s->worker;
	r->pid = s->pid;
	r->state = s->state;
	r->connections = s->connections;
	r->restarts = s->restarts;
	r->loop_age_ms = snap->now_ms > stamp ? snap->now_ms - stamp : 0;
	r->generation = s->generation;
	r->config_generation = s->config_generation;
	stats_slot_lifetime(s, &r->life);
	r->cur = s->cur;
	r->nlinks = s->nlinks > STATS_MAX_LINKS ? STATS_MAX_LINKS : s->nlinks;
	r->links = s->links;
}

static void
row_add(struct row *t, const struct row *r)
{
	for (size_t i = 0; i < NFIELDS; i++) {
		const struct field *f = &fields[i];
		int n = f->flags & FIELD_REASONS ? CLOSE_NREASONS : 1;
		uint64_t *dst = (uint64_t *)(void *)((char *)t + f->off);

		/* hb_close aliases closed[heartbeat]: that array is summed once */
		if (!(f->flags & FIELD_TOTAL) || f->key == NULL)
			continue;
		for (int k = 0; k < n; k++)
			dst[k] += field_value(r, f, k);
	}
}

/*
 * The rows in print order: by worker number, an old generation still
 * draining before its successor, then by segment index.
 */
struct rows {
	size_t n;
	struct row total;
	struct row r[STATS_MAX_WORKERS];
};

static int
row_before(const struct row *a, uint32_t pa, const struct row *b, uint32_t pb)
{
	if (a->worker != b->worker)
		return a->worker < b->worker;
	if (a->config_generation != b->config_generation)
		return a->config_generation < b->config_generation;
	return pa < pb;
}

static struct rows *
rows_make(const struct render_snapshot *snap)
{
	struct rows *rs = calloc(1, sizeof(*rs));
	uint32_t phys[STATS_MAX_WORKERS];

	if (rs == NULL)
		return NULL;
	for (uint32_t i = 0; i < snap->nslots && i < STATS_MAX_WORKERS; i++) {
		struct row r;
		size_t j;

		if (snap->slot[i].state == WS_EMPTY)
			continue;
		make_row(&r, snap, &snap->slot[i]);
		/* insertion sort: a few hundred rows at most */
		for (j = rs->n; j > 0 && row_before(&r, snap->phys[i], &rs->r[j - 1], phys[j - 1]);
		    j--) {
			rs->r[j] = rs->r[j - 1];
			phys[j] = phys[j - 1];
		}
		rs->r[j] = r;
		phys[j] = snap->phys[i];
		rs->n++;
		row_add(&rs->total, &r);
	}
	return rs;
}

static uint64_t
uptime_ms(const struct render_snapshot *snap)
{
	return snap->now_ms > snap->start_mono_ms ? snap->now_ms - snap->start_mono_ms : 0;
}

/* ---- table ---- */

#define NCOLS_MAX 16
#define CELL_MAX 24

enum col_kind { COL_SLOT, COL_PID, COL_STATE, COL_FIELD };

struct column {
	const char *head;
	enum col_kind kind;
	const struct field *f;	/* COL_FIELD */
	int width;
};

static const char *
duration(uint64_t s, char *buf, size_t len)
{
	unsigned long long d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60, sec = s % 60;

	if (d > 0)
		snprintf(buf, len, "%llud %02lluh %02llum", d, h, m);
	else if (h > 0)
		snprintf(buf, len, "%lluh %02llum %02llus", h, m, sec);
	else if (m > 0)
		snprintf(buf, len, "%llum %02llus", m, sec);
	else
		snprintf(buf, len, "%llus", sec);
	return buf;
}

/* the text of one cell; total is the sum row */
static const char *
cell(const struct column *c, const struct row *r, int total, char *buf, size_t len)
{
	if (total && c->kind != COL_FIELD)
		snprintf(buf, len, "%s", c->kind == COL_SLOT ? "total" : "");
	else if (c->kind == COL_SLOT)
		snprintf(buf, len, "%u", r->worker);
	else if (c->kind == COL_PID)
		snprintf(buf, len, "%d", (int)r->pid);
	else if (c->kind == COL_STATE)
		snprintf(buf, len, "%s", stats_state_name(r->state));
	else if (total && !(c->f->flags & FIELD_TOTAL))
		snprintf(buf, len, "%s", "");	/* a sum of ages means nothing */
	else if (!total && r->state == WS_EXITED && (c->f->flags & FIELD_LIVE))
		snprintf(buf, len, "%s", "-");
	else
		snprintf(buf, len, "%llu", (unsigned long long)field_value_sum(r, c->f));
	return buf;
}

/* one line of the table: the headings when r is NULL */
static void
table_line(FILE *f, const struct column *cols, size_t ncols, const struct row *r, int total)
{
	char buf[CELL_MAX], line[NCOLS_MAX * (CELL_MAX + 2) + 1];
	size_t len = 0;

	for (size_t i = 0; i < ncols; i++) {
		const char *text = r == NULL ? cols[i].head : cell(&cols[i], r, total, buf, sizeof(buf));
		int n = snprintf(line + len, sizeof(line) - len, cols[i].kind == COL_STATE ?
		    "%s%-*s" : "%s%*s", i ? "  " : "", cols[i].width, text);

		if (n < 0 || (size_t)n >= sizeof(line) - len)
			break;
		len += (size_t)n;
	}
	/* the total row's empty cells leave no trailing blanks */
	while (len > 0 && line[len - 1] == ' ')
		len--;
	fprintf(f, "%.*s\n", (int)len, line);
}

static const char *
link_state_name(uint32_t st)
{
	static const char *const names[] = { "down", "connecting", "up" };

	return st < sizeof(names) / sizeof(names[0]) ? names[st] : "unknown";
}

/* the backend links, one line per worker process and backend, when there are any */
static void
render_links_table(FILE *f, const struct rows *rs)
{
	static const char *const heads[] = { "slot", "pid", "backend", "link", "reconnects",
	    "events", "commands", "pending", "paused" };
	enum { NH = sizeof(heads) / sizeof(heads[0]) };
	int w[NH];
	char cells[NH][CELL_MAX];
	size_t any = 0;

	for (size_t i = 0; i < rs->n; i++)
		any += rs->r[i].state != WS_EXITED ? rs->r[i].nlinks : 0;
	if (any == 0)
		return;
	for (int pass = 0; pass < 2; pass++) {
		/* pass 0 measures the widest cell of each column, pass 1 prints */
		if (pass == 0)
			for (int k = 0; k < NH; k++)
				w[k] = (int)strlen(heads[k]);
		else
			fprintf(f, "%*s  %*s  %-*s  %-*s  %*s  %*s  %*s  %*s  %*s\n", w[0], heads[0],
			    w[1], heads[1], w[2], heads[2], w[3], heads[3], w[4], heads[4], w[5],
			    heads[5], w[6], heads[6], w[7], heads[7], w[8], heads[8]);
		for (size_t i = 0; i < rs->n; i++) {
			const struct row *r = &rs->r[i];

			if (r->state == WS_EXITED)
				continue;
			for (uint32_t l = 0; l < r->nlinks; l++) {
				const struct stats_link *sl = &r->links[l];

				snprintf(cells[0], CELL_MAX, "%u", r->worker);
				snprintf(cells[1], CELL_MAX, "%d", (int)r->pid);
				snprintf(cells[2], CELL_MAX, "%.23s", sl->name);
				snprintf(cells[3], CELL_MAX, "%s", link_state_name(sl->state));
				snprintf(cells[4], CELL_MAX, "%llu", (unsigned long long)sl->reconnects);
				snprintf(cells[5], CELL_MAX, "%llu", (unsigned long long)sl->events_sent);
				snprintf(cells[6], CELL_MAX, "%llu",
				    (unsigned long long)sl->commands_applied);
				snprintf(cells[7], CELL_MAX, "%llu", (unsigned long long)sl->bytes_pending);
				snprintf(cells[8], CELL_MAX, "%llu", (unsigned long long)sl->clients_paused);
				if (pass == 0) {
					for (int k = 0; k < NH; k++)
						if ((int)strlen(cells[k]) > w[k])
							w[k] = (int)strlen(cells[k]);
				} else {
					fprintf(f, "%*s  %*s  %-*s  %-*s  %*s  %*s  %*s  %*s  %*s\n",
					    w[0], cells[0], w[1], cells[1], w[2], cells[2], w[3], cells[3],
					    w[4], cells[4], w[5], cells[5], w[6], cells[6], w[7], cells[7],
					    w[8], cells[8]);
				}
			}
		}
	}
}

static void
render_table(FILE *f, const struct render_snapshot *snap, const struct rows *rs)
{
	struct column cols[NCOLS_MAX];
	size_t ncols = 0;
	char buf[CELL_MAX];

	cols[ncols++] = (struct column){ "slot", COL_SLOT, NULL, 0 };
	cols[ncols++] = (struct column){ "pid", COL_PID, NULL, 0 };
	cols[ncols++] = (struct column){ "state", COL_STATE, NULL, 0 };
	for (size_t i = 0; i < NFIELDS && ncols < NCOLS_MAX; i++)
		if (fields[i].column != NULL)
			cols[ncols++] = (struct column){ fields[i].column, COL_FIELD, &fields[i], 0 };
	/* widths from the widest cell, so big counters never break the columns */
	for (size_t c = 0; c < ncols; c++) {
		cols[c].width = (int)strlen(cols[c].head);
		for (size_t i = 0; i <= rs->n; i++) {
			int w = (int)strlen(cell(&cols[c], i < rs->n ? &rs->r[i] : &rs->total,
			    i == rs->n, buf, sizeof(buf)));
			if (w > cols[c].width)
				cols[c].width = w;
		}
	}
	fprintf(f, "sockserv master %d, up %s, config generation %llu, %u workers configured\n",
	    (int)snap->master_pid,
	    duration(uptime_ms(snap) / 1000, buf, sizeof(buf)),
	    (unsigned long long)snap->config_generation, snap->workers_configured);
	table_line(f, cols, ncols, NULL, 0);
	for (size_t i = 0; i < rs->n; i++)
		table_line(f, cols, ncols, &rs->r[i], 0);
	table_line(f, cols, ncols, &rs->total, 1);
	render_links_table(f, rs);
}

/* ---- JSON ---- */

/*
 * Keys and state names are fixed identifiers and every value is a number,
 * so nothing here ever needs escaping.
 */
static void
json_reasons(FILE *f, const struct row *r, const struct field *fl)
{
	fprintf(f, "\"%s\":{", fl->key);
	for (int k = 0; k < CLOSE_NREASONS; k++)
		fprintf(f, "%s\"%s\":%llu", k ? "," : "", reason_name((enum close_reason)k),
		    (unsigned long long)field_value(r, fl, k));
	fputc('}', f);
}

/* the fields of r that have a JSON key and every flag in need; *first: no comma yet */
static void
json_fields(FILE *f, const struct row *r, unsigned need, int *first)
{
	for (size_t i = 0; i < NFIELDS; i++) {
		const struct field *fl = &fields[i];

		if (fl->key == NULL || (fl->flags & need) != need)
			continue;
		if (!*first)
			fputc(',', f);
		*first = 0;
		if (fl->flags & FIELD_REASONS)
			json_reasons(f, r, fl);
		else
			fprintf(f, "\"%s\":%llu", fl->key, (unsigned long long)field_value(r, fl, 0));
	}
}

static void
json_this_worker(FILE *f, const struct row *r)
{
	/* the counting fields read life; this row reads the current process's instead */
	struct row cur = *r;
	int first = 1;

	cur.life = r->cur;

	fputs(",\"this_worker\":{", f);
	for (size_t i = 0; i < NFIELDS; i++) {
		const struct field *fl = &fields[i];

		if (fl->key == NULL || !(fl->flags & FIELD_COUNTS))
			continue;
		fprintf(f, "%s\"%s\":%llu", first ? "" : ",", fl->key,
		    (unsigned long long)field_value_sum(&cur, fl));
		first = 0;
	}
	fputc('}', f);
}

/* names are sanitized in the snapshot (copy_links): nothing to escape */
static void
json_links(FILE *f, const struct row *r)
{
	fputs(",\"links\":[", f);
	for (uint32_t l = 0; l < r->nlinks; l++) {
		const struct stats_link *sl = &r->links[l];

		fprintf(f, "%s{\"backend\":\"%s\",\"state\":\"%s\",\"reconnects\":%llu,"
		    "\"events_sent\":%llu,\"commands_applied\":%llu,\"bytes_pending\":%llu,"
		    "\"clients_paused\":%llu}", l ? "," : "", sl->name, link_state_name(sl->state),
		    (unsigned long long)sl->reconnects, (unsigned long long)sl->events_sent,
		    (unsigned long long)sl->commands_applied, (unsigned long long)sl->bytes_pending,
		    (unsigned long long)sl->clients_paused);
	}
	fputc(']', f);
}

static void
render_json(FILE *f, const struct render_snapshot *snap, const struct rows *rs)
{
	int first;

	fprintf(f, "{\"master_pid\":%d,\"uptime_s\":%llu,\"start_time\":%llu,"
	    "\"config_generation\":%llu,\"workers_configured\":%u,\"workers\":[",
	    (int)snap->master_pid, (unsigned long long)(uptime_ms(snap) / 1000),
	    (unsigned long long)snap->start_time,
	    (unsigned long long)snap->config_generation, snap->workers_configured);
	for (size_t i = 0; i < rs->n; i++) {
		const struct row *r = &rs->r[i];

		first = 0;	/* after "state" */
		fprintf(f, "%s{\"slot\":%u,\"pid\":%d,\"state\":\"%s\"", i ? "," : "",
		    r->worker, (int)r->pid, stats_state_name(r->state));
		json_fields(f, r, 0, &first);
		json_this_worker(f, r);
		json_links(f, r);
		fputc('}', f);
	}
	fputs("],\"totals\":{", f);
	first = 1;
	json_fields(f, &rs->total, FIELD_TOTAL, &first);
	fputs("}}\n", f);
}

/* ---- Prometheus ---- */

static void
prom_head(FILE *f, const char *name, const char *suffix, const char *type, const char *help)
{
	fprintf(f, "# HELP sockserv_%s%s %s\n# TYPE sockserv_%s%s %s\n", name, suffix, help,
	    name, suffix, type);
}

/* a server-wide gauge with no labels */
static void
prom_scalar(FILE *f, const char *name, const char *help, uint64_t v)
{
	prom_head(f, name, "", "gauge", help);
	fprintf(f, "sockserv_%s %llu\n", name, (unsigned long long)v);
}

/* per worker process and backend: a draining predecessor has its own links, the pid tells them apart */
static void
prom_links(FILE *f, const struct rows *rs)
{
	static const struct {
		const char *name, *suffix, *type, *help;
		size_t off;
	} lf[] = {
		{ "backend_reconnects", "_total", "counter",
		    "Connection attempts to the backend after the first.",
		    offsetof(struct stats_link, reconnects) },
		{ "backend_events_sent", "_total", "counter",
		    "OPEN, MSG, CLOSE and GONE events handed to the backend link.",
		    offsetof(struct stats_link, events_sent) },
		{ "backend_commands_applied", "_total", "counter",
		    "SEND, CLOSE, SUB, UNSUB and PUBLISH commands carried out.",
		    offsetof(struct stats_link, commands_applied) },
		{ "backend_bytes_pending", "", "gauge",
		    "Bytes of events the backend has not acknowledged yet.",
		    offsetof(struct stats_link, bytes_pending) },
		{ "backend_clients_paused", "", "gauge",
		    "Clients not read because the backend link is down or behind.",
		    offsetof(struct stats_link, clients_paused) },
	};
	size_t any = 0;

	for (size_t i = 0; i < rs->n; i++)
		any += rs->r[i].state != WS_EXITED ? rs->r[i].nlinks : 0;
	if (any == 0)
		return;
	prom_head(f, "backend_link_up", "", "gauge",
	    "1 when the worker's link to the backend is up (HELLO written).");
	for (size_t i = 0; i < rs->n; i++)
		for (uint32_t l = 0; rs->r[i].state != WS_EXITED && l < rs->r[i].nlinks; l++)
			fprintf(f, "sockserv_backend_link_up{worker=\"%u\",pid=\"%d\",backend=\"%s\"} %d\n",
			    rs->r[i].worker, (int)rs->r[i].pid, rs->r[i].links[l].name,
			    rs->r[i].links[l].state == SLINK_UP);
	for (size_t k = 0; k < sizeof(lf) / sizeof(lf[0]); k++) {
		prom_head(f, lf[k].name, lf[k].suffix, lf[k].type, lf[k].help);
		for (size_t i = 0; i < rs->n; i++) {
			for (uint32_t l = 0; rs->r[i].state != WS_EXITED && l < rs->r[i].nlinks; l++) {
				const struct stats_link *sl = &rs->r[i].links[l];
				fprintf(f, "sockserv_%s%s{worker=\"%u\",pid=\"%d\",backend=\"%s\"} %llu\n",
				    lf[k].name, lf[k].suffix, rs->r[i].worker, (int)rs->r[i].pid,
				    sl->name, (unsigned long long)*(const uint64_t *)(const void *)
				    ((const char *)sl + lf[k].off));
			}
		}
	}
}

static void
render_prometheus(FILE *f, const struct render_snapshot *snap, const struct rows *rs)
{
	static const uint32_t states[] = { WS_STARTING, WS_RUNNING, WS_DRAINING, WS_EXITED };

	prom_head(f, "uptime_seconds", "", "gauge", "Seconds since the master started.");
	fprintf(f, "sockserv_uptime_seconds %.3f\n", (double)uptime_ms(snap) / 1000.0);
	prom_scalar(f, "start_time_seconds", "Start time of the master, seconds since the epoch.",
	    snap->start_time);
	prom_scalar(f, "config_generation",
	    "Configuration generation, bumped by each successful reload.",
	    snap->config_generation);
	prom_scalar(f, "workers_configured", "Worker processes the configuration asks for.",
	    snap->workers_configured);

	/* counters and gauges per worker number, summed over its processes */
	for (size_t i = 0; i < NFIELDS; i++) {
		const struct field *fl = &fields[i];
		const char *suffix = fl->flags & FIELD_COUNTER ? "_total" : "";

		if (fl->help == NULL)
			continue;
		prom_head(f, fl->key, suffix, fl->flags & FIELD_COUNTER ? "counter" : "gauge", fl->help);
		for (size_t a = 0, b; a < rs->n; a = b) {
			struct row sum;

			memset(&sum, 0, sizeof(sum));
			for (b = a; b < rs->n && rs->r[b].worker == rs->r[a].worker; b++)
				row_add(&sum, &rs->r[b]);
			for (int k = 0; k < (fl->flags & FIELD_REASONS ? CLOSE_NREASONS : 1); k++) {
				fprintf(f, "sockserv_%s%s{worker=\"%u\"", fl->key, suffix,
				    rs->r[a].worker);
				if (fl->flags & FIELD_REASONS)
					fprintf(f, ",reason=\"%s\"", reason_name((enum close_reason)k));
				fprintf(f, "} %llu\n", (unsigned long long)field_value(&sum, fl, k));
			}
		}
	}

	prom_head(f, "worker_up", "", "gauge",
	    "1 when the worker slot has a process in its event loop, serving.");
	for (size_t a = 0, b; a < rs->n; a = b) {
		int up = 0;

		for (b = a; b < rs->n && rs->r[b].worker == rs->r[a].worker; b++)
			up |= rs->r[b].state == WS_RUNNING;
		fprintf(f, "sockserv_worker_up{worker=\"%u\"} %d\n", rs->r[a].worker, up);
	}

	/* per process: a draining predecessor shares the worker number, the pid tells them apart */
	prom_head(f, "worker_state", "", "gauge",
	    "1 for the state the worker process is in, 0 for the others.");
	for (size_t i = 0; i < rs->n; i++)
		for (size_t k = 0; k < sizeof(states) / sizeof(states[0]); k++)
			fprintf(f, "sockserv_worker_state{worker=\"%u\",pid=\"%d\",state=\"%s\"} %d\n",
			    rs->r[i].worker, (int)rs->r[i].pid, stats_state_name(states[k]),
			    rs->r[i].state == states[k]);
	prom_links(f, rs);
	prom_head(f, "worker_loop_age_seconds", "", "gauge",
	    "Seconds since the worker's event loop last went round (hung above hung_timeout).");
	for (size_t i = 0; i < rs->n; i++)
		if (rs->r[i].state != WS_EXITED)
			fprintf(f, "sockserv_worker_loop_age_seconds{worker=\"%u\",pid=\"%d\"} %.3f\n",
			    rs->r[i].worker, (int)rs->r[i].pid,
			    (double)rs->r[i].loop_age_ms / 1000.0);
}

/* ---- entry points ---- */

int
render(FILE *f, enum render_format fmt, const struct render_snapshot *snap)
{
	struct rows *rs = rows_make(snap);

	if (rs == NULL)
		return -1;
	switch (fmt) {
	case RENDER_TABLE:
		render_table(f, snap, rs);
		break;
	case RENDER_JSON:
		render_json(f, snap, rs);
		break;
	case RENDER_PROMETHEUS:
		render_prometheus(f, snap, rs);
		break;
	}
	free(rs);
	return ferror(f) ? -1 : 0;
}

char *
render_string(enum render_format fmt, const struct render_snapshot *snap)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int rc;

	if (f == NULL)
		return NULL;
	rc = render(f, fmt, snap);
	if (fclose(f) == EOF || rc == -1) {
		free(buf);
		return NULL;
	}
	return buf;
}
