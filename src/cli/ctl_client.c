/*
 * ctl_client.c - weft's client of weft-controller's REST API (docs/api.md),
 * with libcurl: one request per command, to the URL given and nowhere else
 * (no proxy from the environment, no redirects), bounded in time and size,
 * and the mapping of what can go wrong to a message and an exit status: the
 * API's own sentence (1), what to pass for 401 (1), what to do when the
 * object changed since the revision of --if-match (412, 1), a URL that is
 * not one (2), nobody answering at the URL (3).
 */
#include "cli/ctl.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "weft_version.h"

/* Connecting is quick on any network; a write is one store transaction. */
#define CTL_CONNECT_TIMEOUT_SECONDS 10
#define CTL_TIMEOUT_SECONDS         60

/* A MAC table can be long; anything past this is not the controller. */
#define CTL_MAX_REPLY (64u << 20)

/* A bearer token is a line of printable characters. */
#define CTL_MAX_TOKEN 4096

struct ctl_buffer {
    char *data;
    size_t len;
    bool too_big;
};

static size_t ctl_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct ctl_buffer *b = userdata;
    size_t n = size * nmemb;
    char *bigger;

    if (n > CTL_MAX_REPLY - b->len) {
        b->too_big = true;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    bigger = realloc(b->data, b->len + n + 1);
    if (!bigger) {
        return 0;
    }
    memcpy(bigger + b->len, ptr, n);
    b->data = bigger;
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* A new string (free() it), or NULL when out of memory. */
static char *ctl_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *ctl_printf(const char *fmt, ...)
{
    va_list args;
    char *text;
    int n;

    va_start(args, fmt);
    n = vasprintf(&text, fmt, args);
    va_end(args);
    return n < 0 ? NULL : text;
}

/* The token is the file's first line without the whitespace around it (an
 * editor's final newline is no part of it). Returns 0 or an errno value. */
static int ctl_read_token(const char *file, char *token, size_t size)
{
    FILE *f = fopen(file, "re");
    size_t len, start = 0;
    int error = 0;

    if (!f) {
        return errno;
    }
    if (!fgets(token, (int)size, f)) {
        error = ferror(f) ? EIO : ENODATA;
        goto out;
    }
    len = strlen(token);
    if (len == size - 1 && token[len - 1] != '\n' && !feof(f)) {
        error = EMSGSIZE;
        goto out;
    }
    while (len > 0 && isspace((unsigned char)token[len - 1])) {
        token[--len] = '\0';
    }
    while (isspace((unsigned char)token[start])) {
        start++;
    }
    memmove(token, token + start, len - start + 1);
    if (token[0] == '\0') {
        error = ENODATA;
        goto out;
    }
    /* It goes into a header line: nothing that could end or bend it. */
    for (const char *p = token; *p; p++) {
        if (!isprint((unsigned char)*p)) {
            error = EINVAL;
            goto out;
        }
    }
out:
    fclose(f);
    return error;
}

static const char *ctl_token_problem(int error)
{
    switch (error) {
    case ENODATA:
        return "the file is empty";
    case EMSGSIZE:
        return "its first line is too long for a token";
    case EINVAL:
        return "the token has control characters";
    default:
        return strerror(error);
    }
}

static int ctl_unreachable(const struct cli_ctx *ctx, CURLcode rc, const char *detail)
{
    fprintf(stderr,
            "weft: cannot reach weft-controller at %s: %s; is weft-controller running, and is "
            "that its API address? (use --controller or WEFT_CONTROLLER)\n",
            ctx->controller, detail[0] ? detail : curl_easy_strerror(rc));
    return CLI_EXIT_UNREACHABLE;
}

/* The controller's URL, from --controller or WEFT_CONTROLLER: http(s) only,
 * since curl would guess a scheme for "127.0.0.1:7080". 0 or a usage error. */
static int ctl_check_url(const char *url)
{
    if (url[0] == '\0') {
        return cli_usage_error("weft", "the controller URL is empty: give one like "
                                       "http://127.0.0.1:7080 (--controller or WEFT_CONTROLLER)");
    }
    if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) {
        return cli_usage_error("weft",
                               "invalid controller URL '%s': use one like http://127.0.0.1:7080 "
                               "(--controller or WEFT_CONTROLLER)",
                               url);
    }
    return 0;
}

/* Prints what a 4xx/5xx answer says, and what to do about a 401 or a 412. */
static int ctl_refused(const struct cli_ctx *ctx, long http, json_t *answer,
                       const struct ctl_condition *condition)
{
    const char *message =
        json_string_value(json_object_get(json_object_get(answer, "error"), "message"));

    if (http == 412 && condition) {
        /* The API's sentence speaks HTTP ("GET it again"); this one names
         * the command that re-reads the object. */
        fprintf(stderr,
                "weft: %s '%s' changed since revision %s, so nothing was done: re-read it with "
                "'weft %s show %s' and retry with the revision it shows now\n",
                condition->group, condition->name, condition->revision, condition->group,
                condition->name);
        return CLI_EXIT_ERROR;
    }
    if (message && *message) {
        fprintf(stderr, "weft: %s", message);
    } else {
        fprintf(stderr, "weft: weft-controller at %s answered HTTP %ld", ctx->controller, http);
    }
    if (http == 401 && ctx->token_file) {
        fprintf(stderr,
                "; the token in %s was refused: give the file weft-controller was started with "
                "(--api-token-file)",
                ctx->token_file);
    } else if (http == 401) {
        fputs("; pass the controller's API token with --token-file FILE (or "
              "WEFT_API_TOKEN_FILE)",
              stderr);
    }
    fputc('\n', stderr);
    return CLI_EXIT_ERROR;
}

/* Sets up 'curl' for one request; the lists and strings stay the caller's. */
static CURLcode ctl_setup(CURL *curl, const char *method, const char *url, const char *text,
                          struct curl_slist *headers, struct ctl_buffer *buf, char *errbuf)
{
    CURLcode rc = CURLE_OK;

#define CTL_SETOPT(opt, value)                       \
    do {                                             \
        if (rc == CURLE_OK) {                        \
            rc = curl_easy_setopt(curl, opt, value); \
        }                                            \
    } while (0)
    CTL_SETOPT(CURLOPT_ERRORBUFFER, errbuf);
    CTL_SETOPT(CURLOPT_URL, url);
    /* Only the URL given: no http_proxy from the environment, no redirects,
     * and the path as it is (curl would fold a segment named ".."). */
    CTL_SETOPT(CURLOPT_NOPROXY, "*");
    CTL_SETOPT(CURLOPT_PROXY, "");
    CTL_SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
    CTL_SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
    CTL_SETOPT(CURLOPT_PATH_AS_IS, 1L);
    CTL_SETOPT(CURLOPT_CONNECTTIMEOUT, (long)CTL_CONNECT_TIMEOUT_SECONDS);
    CTL_SETOPT(CURLOPT_TIMEOUT, (long)CTL_TIMEOUT_SECONDS);
    CTL_SETOPT(CURLOPT_NOSIGNAL, 1L);
    CTL_SETOPT(CURLOPT_USERAGENT, "weft/" WEFT_VERSION);
    CTL_SETOPT(CURLOPT_CUSTOMREQUEST, method);
    CTL_SETOPT(CURLOPT_HTTPHEADER, headers);
    CTL_SETOPT(CURLOPT_WRITEFUNCTION, ctl_write);
    CTL_SETOPT(CURLOPT_WRITEDATA, buf);
    if (text) {
        CTL_SETOPT(CURLOPT_POSTFIELDS, text);
        CTL_SETOPT(CURLOPT_POSTFIELDSIZE, (long)strlen(text));
    }
#undef CTL_SETOPT
    return rc;
}

int ctl_request(const struct cli_ctx *ctx, const char *method, const char *path, json_t *body,
                const struct ctl_condition *condition, json_t **reply)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    char token[CTL_MAX_TOKEN] = "", *auth = NULL, *url = NULL, *text = NULL, *if_match = NULL;
    struct curl_slist *headers = NULL, *more;
    struct ctl_buffer buf = {0};
    json_t *answer = NULL;
    json_error_t jerr;
    CURL *curl = NULL;
    bool curl_started = false;
    size_t base_len = strlen(ctx->controller);
    long http = 0;
    int status = CLI_EXIT_ERROR, error;
    CURLcode rc;

    if (ctl_check_url(ctx->controller)) {
        status = CLI_EXIT_USAGE;
        goto out;
    }
    if (body && !(text = json_dumps(body, JSON_COMPACT))) {
        fputs("weft: cannot build the request (out of memory?)\n", stderr);
        goto out;
    }
    if (ctx->token_file && (error = ctl_read_token(ctx->token_file, token, sizeof token))) {
        fprintf(stderr,
                "weft: cannot read the API token from %s: %s (--token-file or "
                "WEFT_API_TOKEN_FILE)\n",
                ctx->token_file, ctl_token_problem(error));
        goto out;
    }
    /* "http://host:7080/" and "http://host:7080" are the same controller. */
    while (base_len > 0 && ctx->controller[base_len - 1] == '/') {
        base_len--;
    }
    url = ctl_printf("%.*s/api/v1/%s", (int)base_len, ctx->controller, path);
    auth = ctx->token_file ? ctl_printf("Authorization: Bearer %s", token) : NULL;
    /* The revision quoted, as an entity tag (the API takes it bare too). */
    if_match = condition ? ctl_printf("If-Match: \"%s\"", condition->revision) : NULL;
    if (!url || (ctx->token_file && !auth) || (condition && !if_match)) {
        fputs("weft: out of memory\n", stderr);
        goto out;
    }
    /* "Expect:" turns off curl's 100-continue round trip. */
    const char *lines[] = {"Accept: application/json",
                           "Expect:", text ? "Content-Type: application/json" : NULL, auth,
                           if_match};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        if (lines[i]) {
            if (!(more = curl_slist_append(headers, lines[i]))) {
                fputs("weft: out of memory\n", stderr);
                goto out;
            }
            headers = more;
        }
    }
    curl_started = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    if (!curl_started || !(curl = curl_easy_init())) {
        fputs("weft: cannot start libcurl (out of memory?)\n", stderr);
        goto out;
    }
    if ((rc = ctl_setup(curl, method, url, text, headers, &buf, errbuf)) != CURLE_OK) {
        fprintf(stderr, "weft: cannot set up the request to %s: %s\n", ctx->controller,
                curl_easy_strerror(rc));
        goto out;
    }
    rc = curl_easy_perform(curl);
    if (rc == CURLE_WRITE_ERROR) {
        fprintf(stderr, "weft: the answer of %s is %s\n", ctx->controller,
                buf.too_big ? "larger than 64 MiB: it is not weft-controller's"
                            : "lost (out "
                              "of memory)");
        goto out;
    }
    if (rc == CURLE_URL_MALFORMAT) {
        fprintf(stderr,
                "weft: invalid controller URL '%s': %s; use one like http://127.0.0.1:7080\n",
                ctx->controller, errbuf[0] ? errbuf : curl_easy_strerror(rc));
        status = CLI_EXIT_USAGE;
        goto out;
    }
    if (rc != CURLE_OK) {
        status = ctl_unreachable(ctx, rc, errbuf);
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &http);
    answer = buf.len ? json_loadb(buf.data, buf.len, 0, &jerr) : json_null();
    if (http < 200 || http > 299) {
        status = ctl_refused(ctx, http, answer, condition);
        goto out;
    }
    if (!answer) {
        fprintf(stderr, "weft: %s sent an answer weft does not understand: %s\n", ctx->controller,
                jerr.text);
        goto out;
    }
    if (reply) {
        *reply = json_incref(answer);
    }
    status = CLI_EXIT_OK;
out:
    json_decref(answer);
    json_decref(body);
    curl_easy_cleanup(curl);
    if (curl_started) {
        curl_global_cleanup();
    }
    curl_slist_free_all(headers);
    free(buf.data);
    free(if_match);
    free(auth);
    free(url);
    free(text);
    return status;
}
