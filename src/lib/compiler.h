/*
 * compiler.h - small compiler helpers shared by every Weft module.
 *
 * Branch hints for the fast path, array sizing, and the two assertions the
 * project uses: WEFT_ASSERT is always on and guards invariants whose breach
 * would corrupt state; WEFT_DEBUG_ASSERT compiles away in release builds.
 */
#ifndef WEFT_LIB_COMPILER_H
#define WEFT_LIB_COMPILER_H

#include <stdio.h>
#include <stdlib.h>

#define WEFT_LIKELY(x)     __builtin_expect(!!(x), 1)
#define WEFT_UNLIKELY(x)   __builtin_expect(!!(x), 0)
#define WEFT_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define WEFT_PREFETCH(p)   __builtin_prefetch(p)
/* For the rare branches of a fast-path function (events, ARP, replication):
 * kept out of line, so that they do not grow the hot function past what the
 * compiler inlines, and laid out away from the hot code. */
#define WEFT_COLD __attribute__((cold, noinline))

#define WEFT_ASSERT(cond)                                                                \
    do {                                                                                 \
        if (WEFT_UNLIKELY(!(cond))) {                                                    \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                     \
        }                                                                                \
    } while (0)

#ifdef NDEBUG
#define WEFT_DEBUG_ASSERT(cond) ((void)0)
#else
#define WEFT_DEBUG_ASSERT(cond) WEFT_ASSERT(cond)
#endif

#endif
