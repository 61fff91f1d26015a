/*
 * escape: the printable form of untrusted bytes.
 */
#include "escape.h"

#include <string.h>

size_t
escape_bytes(char *out, size_t outlen, const uint8_t *data, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		uint8_t b = data[i];
		char form[ESCAPE_MAX_PER_BYTE];
		size_t n = 0;

		if (b == '\\' || b == '\n' || b == '\r' || b == '\t') {
			form[n++] = '\\';
			form[n++] = b == '\\' ? '\\' : b == '\n' ? 'n' : b == '\r' ? 'r' : 't';
		} else if (b >= 0x20 && b < 0x7f) {
			form[n++] = (char)b;
		} else {
			form[n++] = '\\';
			form[n++] = 'x';
			form[n++] = hex[b >> 4];
			form[n++] = hex[b & 0xf];
		}
		/* outlen - o - 1: room left before the NUL */
		if (n > outlen - o - 1)
			break;
		memcpy(out + o, form, n);
		o += n;
	}
	out[o] = '\0';
	return o;
}
