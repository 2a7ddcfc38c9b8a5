/*
 * drop.h - named drop reasons of the forwarding core.
 *
 * On the fast path errors are counted, never logged: each drop increments
 * one counter indexed by its reason, so "why did my packet not arrive" is
 * answered by reading counters (see drop_reasons.def for the list).
 */
#ifndef WEFT_CORE_DROP_H
#define WEFT_CORE_DROP_H

enum drop_reason {
    DROP_NONE = 0,
#define DROP_REASON(sym, name, help) DROP_##sym,
#include "drop_reasons.def"
#undef DROP_REASON
    DROP_REASON_COUNT
};

/* Short name, as shown in counters ("runt"); "none" for DROP_NONE. */
const char *drop_reason_name(enum drop_reason reason);
/* One sentence: what happened and what to check. */
const char *drop_reason_help(enum drop_reason reason);
/* Reverse of drop_reason_name(); DROP_NONE when unknown. */
enum drop_reason drop_reason_from_name(const char *name);

#endif
