/*
 * drop.c - names and help texts of the drop reasons.
 */
#include "drop.h"

#include <string.h>

static const char *const drop_names[DROP_REASON_COUNT] = {
    [DROP_NONE] = "none",
#define DROP_REASON(sym, name, help) [DROP_##sym] = name,
#include "drop_reasons.def"
#undef DROP_REASON
};

static const char *const drop_helps[DROP_REASON_COUNT] = {
    [DROP_NONE] = "not dropped",
#define DROP_REASON(sym, name, help) [DROP_##sym] = help,
#include "drop_reasons.def"
#undef DROP_REASON
};

const char *drop_reason_name(enum drop_reason reason)
{
    return (unsigned)reason < DROP_REASON_COUNT ? drop_names[reason] : "invalid";
}

const char *drop_reason_help(enum drop_reason reason)
{
    return (unsigned)reason < DROP_REASON_COUNT ? drop_helps[reason] : "invalid drop reason";
}

enum drop_reason drop_reason_from_name(const char *name)
{
    for (unsigned i = 1; i < DROP_REASON_COUNT; i++) {
        if (strcmp(drop_names[i], name) == 0) {
            return (enum drop_reason)i;
        }
    }
    return DROP_NONE;
}
