/*
 * version: the one version string (sockserv -v, the backend link's HELLO).
 */
#ifndef SOCKSERV_VERSION_H
#define SOCKSERV_VERSION_H

#ifndef SOCKSERV_VERSION
#define SOCKSERV_VERSION "0.1.0"
#endif

#endif
