/*
 * escape: the printable form of untrusted bytes, for a log line or a
 * terminal.  Payloads are arbitrary bytes; written as they are, they could
 * forge log lines or reprogram the terminal.  The server's `log` handler and
 * sockserv-client both print through this one function, so they agree on
 * what a byte looks like.
 */
#ifndef SOCKSERV_ESCAPE_H
#define SOCKSERV_ESCAPE_H

#include <stddef.h>
#include <stdint.h>

/* the longest form of one byte: \xHH */
#define ESCAPE_MAX_PER_BYTE	4
/* a buffer that holds the form of any n bytes, with its NUL */
#define ESCAPE_SIZE(n)		((n) * ESCAPE_MAX_PER_BYTE + 1)

/*
 * Write the printable form of data[0..len) to out, NUL-terminated:
 * printable ASCII as it is, backslash as \\, newline, carriage return and
 * tab as \n, \r, \t, every other byte as \xHH (lower-case hex).  A byte is
 * written whole or not at all: the text stops before the first byte whose
 * form does not fit in outlen (with the NUL).  outlen must be at least 1.
 * Returns the length of the text (strlen(out)).
 */
size_t escape_bytes(char *out, size_t outlen, const uint8_t *data, size_t len);

#endif
