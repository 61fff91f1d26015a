/*
 * minijson: a strict little JSON reader for the tests that check
 * sockserv-stat's JSON (tests/test_render.c, tests/integration/).  It
 * builds a tree, rejects anything RFC 8259 rejects (trailing commas, bare
 * words, control characters in strings, garbage after the value) and also
 * duplicate keys, which a renderer must never produce.  Integers keep all
 * 64 bits; everything is static inline so a test includes only what it uses.
 */
#ifndef SOCKSERV_TESTS_MINIJSON_H
#define SOCKSERV_TESTS_MINIJSON_H

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum mj_type { MJ_NULL, MJ_BOOL, MJ_NUM, MJ_STR, MJ_ARR, MJ_OBJ };

struct mj {
	enum mj_type type;
	int is_uint;		/* MJ_NUM: a non-negative integer, exact in u */
	uint64_t u;
	double d;		/* MJ_NUM: always */
	int b;			/* MJ_BOOL */
	char *s;		/* MJ_STR */
	size_t n;		/* MJ_ARR / MJ_OBJ: members */
	char **keys;		/* MJ_OBJ */
	struct mj *items;
};

struct mj_parser {
	const char *p;
	const char *start;
	char *err;
	size_t errlen;
	int depth;
};

#define MJ_MAX_DEPTH 64

static inline int
mj_fail(struct mj_parser *ps, const char *what)
{
	if (ps->err[0] == '\0')
		snprintf(ps->err, ps->errlen, "offset %ld: %s", (long)(ps->p - ps->start), what);
	return -1;
}

static inline void
mj_ws(struct mj_parser *ps)
{
	while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
		ps->p++;
}

static inline void
mj_free_members(struct mj *v)
{
	for (size_t i = 0; i < v->n; i++) {
		mj_free_members(&v->items[i]);
		if (v->keys != NULL)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->s);
	memset(v, 0, sizeof(*v));
}

static inline void
mj_free(struct mj *v)
{
	if (v == NULL)
		return;
	mj_free_members(v);
	free(v);
}

static inline int mj_value(struct mj_parser *ps, struct mj *v);

static inline int
mj_hex4(const char *p, unsigned *out)
{
	*out = 0;
	for (int i = 0; i < 4; i++) {
		if (!isxdigit((unsigned char)p[i]))
			return -1;
		*out = *out * 16 + (unsigned)(isdigit((unsigned char)p[i]) ? p[i] - '0' :
		    tolower((unsigned char)p[i]) - 'a' + 10);
	}
	return 0;
}

/* a string at ps->p (the opening quote) into a malloc'd UTF-8 copy */
static inline int
mj_string(struct mj_parser *ps, char **out)
{
	size_t cap = 16, len = 0;
	char *s = malloc(cap);

	if (s == NULL)
		return mj_fail(ps, "out of memory");
	ps->p++;
	for (;;) {
		unsigned char c = (unsigned char)*ps->p;
		unsigned cp = c;

		if (c < 0x20) {
			free(s);
			return mj_fail(ps, c != '\0' ? "control character in a string" :
			    "unterminated string");
		}
		ps->p++;
		if (c == '"')
			break;
		if (c == '\\') {
			char e = *ps->p++;
			switch (e) {
			case '"': cp = '"'; break;
			case '\\': cp = '\\'; break;
			case '/': cp = '/'; break;
			case 'b': cp = '\b'; break;
			case 'f': cp = '\f'; break;
			case 'n': cp = '\n'; break;
			case 'r': cp = '\r'; break;
			case 't': cp = '\t'; break;
			case 'u':
				if (mj_hex4(ps->p, &cp) == -1) {
					free(s);
					return mj_fail(ps, "bad \\u escape");
				}
				ps->p += 4;
				break;
			default:
				free(s);
				return mj_fail(ps, "bad escape");
			}
		}
		if (len + 4 >= cap) {
			char *t = realloc(s, cap *= 2);
			if (t == NULL) {
				free(s);
				return mj_fail(ps, "out of memory");
			}
			s = t;
		}
		/* \u escapes of the BMP as UTF-8; surrogate pairs are not needed here */
		if (cp < 0x80 || c != '\\') {
			s[len++] = (char)cp;
		} else if (cp < 0x800) {
			s[len++] = (char)(0xc0 | cp >> 6);
			s[len++] = (char)(0x80 | (cp & 0x3f));
		} else {
			s[len++] = (char)(0xe0 | cp >> 12);
			s[len++] = (char)(0x80 | (cp >> 6 & 0x3f));
			s[len++] = (char)(0x80 | (cp & 0x3f));
		}
	}
	s[len] = '\0';
	*out = s;
	return 0;
}

static inline int
mj_number(struct mj_parser *ps, struct mj *v)
{
	const char *p = ps->p, *digits;
	int integer = 1;
	char *end;

	if (*p == '-')
		p++;
	digits = p;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (isdigit((unsigned char)*p))
			p++;
	else
		return mj_fail(ps, "bad number");
	if (*p == '.') {
		integer = 0;
		if (!isdigit((unsigned char)*++p))
			return mj_fail(ps, "bad fraction");
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		integer = 0;
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!isdigit((unsigned char)*p))
			return mj_fail(ps, "bad exponent");
		while (isdigit((unsigned char)*p))
			p++;
	}
	v->type = MJ_NUM;
	v->d = strtod(ps->p, NULL);
	if (integer && *ps->p != '-') {
		errno = 0;
		v->u = strtoull(digits, &end, 10);
		v->is_uint = errno == 0 && end == p;
	}
	ps->p = p;
	return 0;
}

static inline int
mj_add(struct mj_parser *ps, struct mj *v, size_t *cap)
{
	if (v->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		struct mj *items = realloc(v->items, ncap * sizeof(*items));
		if (items == NULL)
			return mj_fail(ps, "out of memory");
		v->items = items;
		if (v->type == MJ_OBJ) {
			char **keys = realloc(v->keys, ncap * sizeof(*keys));
			if (keys == NULL)
				return mj_fail(ps, "out of memory");
			v->keys = keys;
		}
		*cap = ncap;
	}
	memset(&v->items[v->n], 0, sizeof(v->items[0]));
	if (v->type == MJ_OBJ)
		v->keys[v->n] = NULL;
	v->n++;
	return 0;
}

static inline int
mj_container(struct mj_parser *ps, struct mj *v, char close)
{
	size_t cap = 0;

	if (++ps->depth > MJ_MAX_DEPTH)
		return mj_fail(ps, "nested too deeply");
	ps->p++;
	mj_ws(ps);
	if (*ps->p == close) {
		ps->p++;
		ps->depth--;
		return 0;
	}
	for (;;) {
		mj_ws(ps);
		if (mj_add(ps, v, &cap) == -1)
			return -1;
		if (v->type == MJ_OBJ) {
			char *key;
			if (*ps->p != '"')
				return mj_fail(ps, "expected a key");
			if (mj_string(ps, &key) == -1)
				return -1;
			v->keys[v->n - 1] = key;
			for (size_t i = 0; i + 1 < v->n; i++)
				if (strcmp(v->keys[i], key) == 0)
					return mj_fail(ps, "duplicate key");
			mj_ws(ps);
			if (*ps->p++ != ':')
				return mj_fail(ps, "expected ':'");
			mj_ws(ps);
		}
		if (mj_value(ps, &v->items[v->n - 1]) == -1)
			return -1;
		mj_ws(ps);
		if (*ps->p == ',') {
			ps->p++;
			continue;
		}
		if (*ps->p == close) {
			ps->p++;
			ps->depth--;
			return 0;
		}
		return mj_fail(ps, v->type == MJ_OBJ ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

static inline int
mj_value(struct mj_parser *ps, struct mj *v)
{
	memset(v, 0, sizeof(*v));
	switch (*ps->p) {
	case '{':
		v->type = MJ_OBJ;
		return mj_container(ps, v, '}');
	case '[':
		v->type = MJ_ARR;
		return mj_container(ps, v, ']');
	case '"':
		v->type = MJ_STR;
		return mj_string(ps, &v->s);
	case 't':
	case 'f':
	case 'n': {
		static const char *const words[] = { "true", "false", "null" };
		for (int i = 0; i < 3; i++) {
			size_t n = strlen(words[i]);
			if (strncmp(ps->p, words[i], n) == 0) {
				v->type = i == 2 ? MJ_NULL : MJ_BOOL;
				v->b = i == 0;
				ps->p += n;
				return 0;
			}
		}
		return mj_fail(ps, "bad literal");
	}
	default:
		return mj_number(ps, v);
	}
}

/* the whole text as one JSON value (whitespace around it allowed); NULL + err on error */
static inline struct mj *
mj_parse(const char *text, char *err, size_t errlen)
{
	struct mj_parser ps = { text, text, err, errlen, 0 };
	struct mj *v = calloc(1, sizeof(*v));

	err[0] = '\0';
	if (v == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	mj_ws(&ps);
	if (mj_value(&ps, v) == -1) {
		mj_free(v);
		return NULL;
	}
	mj_ws(&ps);
	if (*ps.p != '\0') {
		mj_fail(&ps, "text after the value");
		mj_free(v);
		return NULL;
	}
	return v;
}

/* member key of an object, NULL if v is not an object or has no such key */
static inline const struct mj *
mj_get(const struct mj *v, const char *key)
{
	if (v == NULL || v->type != MJ_OBJ)
		return NULL;
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->keys[i], key) == 0)
			return &v->items[i];
	return NULL;
}

/* element i of an array */
static inline const struct mj *
mj_at(const struct mj *v, size_t i)
{
	if (v == NULL || v->type != MJ_ARR || i >= v->n)
		return NULL;
	return &v->items[i];
}

/* an exact non-negative integer member; -1 when missing or of another kind */
static inline int
mj_uint(const struct mj *v, const char *key, uint64_t *out)
{
	const struct mj *m = mj_get(v, key);

	if (m == NULL || m->type != MJ_NUM || !m->is_uint)
		return -1;
	*out = m->u;
	return 0;
}

/* a string member, NULL when missing or of another kind */
static inline const char *
mj_str(const struct mj *v, const char *key)
{
	const struct mj *m = mj_get(v, key);

	return m != NULL && m->type == MJ_STR ? m->s : NULL;
}

#endif
