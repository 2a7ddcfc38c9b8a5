/*
 * api_schema.c - validation of request bodies against an object's field table
 * (api_internal.h): unknown fields, types, ranges and formats are refused with
 * 422 naming the field; what passes comes out normalized (lower-case MACs,
 * canonical addresses) in the table's order with every default filled in, so
 * the stored JSON is exactly what GET shows.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "controller/api_internal.h"
#include "lib/ether.h"
#include "lib/name.h"

#define API_NAME_SET_MAX 4096

bool api_vlan_list_parse(const char *text, uint8_t map[512])
{
    const char *p = text;

    memset(map, 0, 512);
    for (;;) {
        char *end;
        unsigned long lo, hi;

        if (*p < '0' || *p > '9') {
            return false;
        }
        lo = strtoul(p, &end, 10);
        hi = lo;
        p = end;
        if (*p == '-') {
            p++;
            if (*p < '0' || *p > '9') {
                return false;
            }
            hi = strtoul(p, &end, 10);
            p = end;
        }
        if (lo < 1 || hi > VLAN_ID_MAX || lo > hi) {
            return false;
        }
        for (unsigned long v = lo; v <= hi; v++) {
            map[v / 8] |= (uint8_t)(1u << (v % 8));
        }
        if (*p == '\0') {
            return true;
        }
        if (*p++ != ',') {
            return false;
        }
    }
}

static const struct api_field *schema_find(const struct api_kind *kind, const char *name)
{
    for (size_t i = 0; i < kind->n_fields; i++) {
        if (strcmp(kind->fields[i].name, name) == 0) {
            return &kind->fields[i];
        }
    }
    return NULL;
}

static void schema_field_names(const struct api_kind *kind, char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < kind->n_fields && used < len; i++) {
        int n = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", kind->fields[i].name);
        if (n < 0) {
            break;
        }
        used += (size_t)n;
    }
}

static json_t *schema_name_set(const struct api_field *f, const json_t *v, struct api_error *err)
{
    json_t *out;
    size_t i;
    json_t *item;

    if (!json_is_array(v) || json_array_size(v) > API_NAME_SET_MAX) {
        api_fail(err, 422, f->name, "'%s' must be an array of at most %d host ids", f->name,
                 API_NAME_SET_MAX);
        return NULL;
    }
    out = api_check_alloc(json_array());
    json_array_foreach(v, i, item)
    {
        const char *s = json_string_value(item);
        if (!s || !name_valid(s, 63)) {
            api_fail(err, 422, f->name,
                     "'%s' item %zu must be a host id: 1-63 characters from A-Z a-z 0-9 _ . -",
                     f->name, i);
            goto fail;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(json_string_value(json_array_get(v, j)), s) == 0) {
                api_fail(err, 422, f->name, "'%s' names host '%s' twice; list each host once",
                         f->name, s);
                goto fail;
            }
        }
        json_array_append_new(out, json_string(s));
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}

static json_t *schema_bindings(const struct api_field *f, const json_t *v, struct api_error *err)
{
    json_t *out;
    size_t i;
    json_t *item;

    if (!json_is_array(v) || json_array_size(v) > f->max) {
        api_fail(err, 422, f->name,
                 "'%s' must be an array of at most %llu {\"mac\": MAC, \"ip\": IPv4} objects",
                 f->name, (unsigned long long)f->max);
        return NULL;
    }
    out = api_check_alloc(json_array());
    json_array_foreach(v, i, item)
    {
        char field[64];
        const char *key;
        json_t *val;
        struct eth_addr mac;
        char mac_text[ETH_ADDR_STRLEN];
        struct in_addr ip;
        char ip_text[INET_ADDRSTRLEN];
        const json_t *jip;
        json_t *b;

        snprintf(field, sizeof field, "%s[%zu]", f->name, i);
        if (!json_is_object(item)) {
            api_fail(err, 422, field, "'%s' must be an object {\"mac\": MAC, \"ip\": IPv4}", field);
            goto fail;
        }
        json_object_foreach((json_t *)item, key, val)
        {
            if (strcmp(key, "mac") != 0 && strcmp(key, "ip") != 0) {
                api_fail(err, 422, field, "'%s' has an unknown field '%s'; a binding has mac, ip",
                         field, key);
                goto fail;
            }
        }
        snprintf(field, sizeof field, "%s[%zu].mac", f->name, i);
        val = json_object_get(item, "mac");
        if (!json_is_string(val) || eth_addr_parse(json_string_value(val), &mac) != 0 ||
            eth_addr_is_multicast(mac.bytes) || eth_addr_is_zero(mac.bytes)) {
            api_fail(err, 422, field,
                     "'%s' must be a unicast MAC address such as \"02:00:00:00:10:01\"", field);
            goto fail;
        }
        eth_addr_format(mac.bytes, mac_text);
        b = api_check_alloc(json_pack("{ss}", "mac", mac_text));
        json_array_append_new(out, b);
        snprintf(field, sizeof field, "%s[%zu].ip", f->name, i);
        jip = json_object_get(item, "ip");
        if (jip && !json_is_null(jip)) {
            if (!json_is_string(jip) || inet_pton(AF_INET, json_string_value(jip), &ip) != 1) {
                api_fail(err, 422, field, "'%s' must be an IPv4 address such as \"172.16.10.11\"",
                         field);
                goto fail;
            }
            inet_ntop(AF_INET, &ip, ip_text, sizeof ip_text);
            json_object_set_new(b, "ip", json_string(ip_text));
        }
        for (size_t j = 0; j < i; j++) {
            const json_t *o = json_array_get(out, j);
            const char *oip = json_string_value(json_object_get(o, "ip"));
            if (strcmp(json_string_value(json_object_get(o, "mac")), mac_text) == 0) {
                api_fail(err, 422, f->name, "'%s' binds MAC %s twice; bind each MAC once", f->name,
                         mac_text);
                goto fail;
            }
            if (oip && json_object_get(b, "ip") &&
                strcmp(oip, json_string_value(json_object_get(b, "ip"))) == 0) {
                api_fail(err, 422, f->name, "'%s' binds IP %s twice; bind each IP once", f->name,
                         oip);
                goto fail;
            }
        }
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}

/* One value, checked and normalized: a new reference, or NULL with err. */
static json_t *schema_value(const struct api_field *f, const json_t *v, struct api_error *err)
{
    const char *s = json_string_value(v);

    if (json_is_null(v) && (f->flags & API_FIELD_NULLABLE)) {
        return json_null();
    }
    switch (f->type) {
    case API_FIELD_NAME:
        if (!s || !name_valid(s, f->max)) {
            api_fail(err, 422, f->name,
                     "'%s' must be a name: 1-%llu characters from A-Z a-z 0-9 _ . -%s", f->name,
                     (unsigned long long)f->max,
                     (f->flags & API_FIELD_NULLABLE) ? ", or null" : "");
            return NULL;
        }
        return json_string(s);
    case API_FIELD_STRING:
        if (!s || strlen(s) > f->max) {
            api_fail(err, 422, f->name, "'%s' must be a string of at most %llu bytes", f->name,
                     (unsigned long long)f->max);
            return NULL;
        }
        return json_string(s);
    case API_FIELD_UINT:
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            (uint64_t)json_integer_value(v) < f->min || (uint64_t)json_integer_value(v) > f->max) {
            api_fail(err, 422, f->name, "'%s' must be an integer from %llu to %llu", f->name,
                     (unsigned long long)f->min, (unsigned long long)f->max);
            return NULL;
        }
        return json_integer(json_integer_value(v));
    case API_FIELD_BOOL:
        if (!json_is_boolean(v)) {
            api_fail(err, 422, f->name, "'%s' must be true or false", f->name);
            return NULL;
        }
        return json_boolean(json_is_true(v));
    case API_FIELD_ENUM:
        for (size_t i = 0; s && f->choices[i]; i++) {
            if (strcmp(s, f->choices[i]) == 0) {
                return json_string(s);
            }
        }
        {
            char list[256] = "";
            size_t used = 0;
            for (size_t i = 0; f->choices[i] && used < sizeof list; i++) {
                int n = snprintf(list + used, sizeof list - used, "%s\"%s\"", i ? ", " : "",
                                 f->choices[i]);
                used += n > 0 ? (size_t)n : 0;
            }
            api_fail(err, 422, f->name, "'%s' must be one of %s", f->name, list);
        }
        return NULL;
    case API_FIELD_NAME_SET:
        return schema_name_set(f, v, err);
    case API_FIELD_IPV4_MCAST: {
        struct in_addr a;
        char text[INET_ADDRSTRLEN];
        if (!s || inet_pton(AF_INET, s, &a) != 1 || (ntohl(a.s_addr) >> 28) != 0xe) {
            api_fail(err, 422, f->name,
                     "'%s' must be an IPv4 multicast address (224.0.0.0-239.255.255.255)%s",
                     f->name, (f->flags & API_FIELD_NULLABLE) ? ", or null" : "");
            return NULL;
        }
        inet_ntop(AF_INET, &a, text, sizeof text);
        return json_string(text);
    }
    case API_FIELD_VLAN_LIST: {
        uint8_t map[512];
        if (!s || !api_vlan_list_parse(s, map)) {
            api_fail(err, 422, f->name,
                     "'%s' must list VLANs 1-4094 as ranges, such as \"101,200-210\"%s", f->name,
                     (f->flags & API_FIELD_NULLABLE) ? ", or null" : "");
            return NULL;
        }
        return json_string(s);
    }
    case API_FIELD_BINDINGS:
        return schema_bindings(f, v, err);
    }
    api_fail(err, 500, f->name, "field '%s' has no type", f->name);
    return NULL;
}

json_t *api_schema_normalize(const struct api_kind *kind, const json_t *body, const json_t *base,
                             struct api_error *err)
{
    const char *key;
    json_t *value;
    json_t *out;

    json_object_foreach((json_t *)body, key, value)
    {
        if (!schema_find(kind, key)) {
            char names[512];
            schema_field_names(kind, names, sizeof names);
            api_fail(err, 422, key, "unknown field '%s'; a %s has: %s", key, kind->noun, names);
            return NULL;
        }
    }
    out = api_check_alloc(json_object());
    for (size_t i = 0; i < kind->n_fields; i++) {
        const struct api_field *f = &kind->fields[i];
        const json_t *given = json_object_get(body, f->name);
        const json_t *v = given ? given : (base ? json_object_get(base, f->name) : NULL);
        json_t *def = NULL;
        json_t *nv;

        if (v && json_is_null(v) && (f->flags & API_FIELD_OPTIONAL)) {
            if (base && json_object_get(base, f->name) && (f->flags & API_FIELD_IMMUTABLE)) {
                api_fail(err, 422, f->name,
                         "'%s' cannot be changed; delete the %s and create it again to change it",
                         f->name, kind->noun);
                goto fail;
            }
            v = NULL; /* null = "not given": e.g. a segment's vni, to allocate one */
        }
        if (!v) {
            if (f->flags & API_FIELD_OPTIONAL) {
                continue;
            }
            if (f->flags & API_FIELD_REQUIRED) {
                api_fail(err, 422, f->name, "'%s' is required for a %s", f->name, kind->noun);
                goto fail;
            }
            def = api_check_alloc(json_loads(f->def, JSON_DECODE_ANY, NULL));
            v = def;
        }
        nv = schema_value(f, v, err);
        json_decref(def);
        if (!nv) {
            goto fail;
        }
        if (base && given && (f->flags & API_FIELD_IMMUTABLE) &&
            !json_equal(nv, json_object_get(base, f->name))) {
            json_decref(nv);
            api_fail(err, 422, f->name,
                     "'%s' cannot be changed; delete the %s and create it again to change it",
                     f->name, kind->noun);
            goto fail;
        }
        json_object_set_new(out, f->name, nv);
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}
