/*
 * name.h - the one rule for names of objects (ports, segments, zones, pools,
 * hosts) that weftd, weft-controller and weft all check: 1 to max
 * characters, each a letter, a digit, '-', '_' or '.' (ASCII), so that a name
 * is safe in a URL path, a file name and a log line as it is.
 */
#ifndef WEFT_LIB_NAME_H
#define WEFT_LIB_NAME_H

#include <stdbool.h>
#include <stddef.h>

bool name_valid(const char *s, size_t max);

#endif
