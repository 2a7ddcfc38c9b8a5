/*
 * client.c - weft's side of weftd's control protocol (docs/control-protocol.md):
 * one request per connection, a line of JSON each way, and the mapping of what
 * can go wrong to exit statuses: weftd refused (1, its message on stderr),
 * weftd unreachable (3).
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

/* How long weftd may take to answer (opening a device can take a while). */
#define CLIENT_TIMEOUT_SECONDS 60

/* Replies are small, but a MAC table can be long. */
#define CLIENT_MAX_REPLY (64u << 20)

static int cli_unreachable(const struct cli_ctx *ctx, int error)
{
    if (error == EACCES || error == EPERM) {
        /* weftd runs, but its socket is for root and weftd's --group only. */
        fprintf(stderr,
                "weft: cannot reach weftd at %s: %s; run weft as root or as a member of the "
                "group given with weftd --group\n",
                ctx->socket_path, strerror(error));
    } else {
        fprintf(stderr,
                "weft: cannot reach weftd at %s: %s; is weftd running? (use -s or WEFT_SOCKET)\n",
                ctx->socket_path, strerror(error));
    }
    return CLI_EXIT_UNREACHABLE;
}

static int cli_connect(const struct cli_ctx *ctx, int *fd_out)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    struct timeval tv = {.tv_sec = CLIENT_TIMEOUT_SECONDS};
    int fd;

    if (strlen(ctx->socket_path) >= sizeof addr.sun_path) {
        return ENAMETOOLONG;
    }
    strcpy(addr.sun_path, ctx->socket_path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return errno;
    }
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        int error = errno;
        close(fd);
        return error;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    *fd_out = fd;
    return 0;
}

static int cli_send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno == EAGAIN ? ETIMEDOUT : errno;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads up to the first newline into a NUL-terminated buffer the caller frees. */
static int cli_recv_line(int fd, char **line_out)
{
    size_t len = 0, cap = 0;
    char *buf = NULL;

    for (;;) {
        if (cap - len < 4096) {
            char *bigger = cap > CLIENT_MAX_REPLY ? NULL : realloc(buf, cap ? cap * 2 : 8192);
            if (!bigger) {
                free(buf);
                return cap > CLIENT_MAX_REPLY ? EMSGSIZE : ENOMEM;
            }
            buf = bigger;
            cap = cap ? cap * 2 : 8192;
        }
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            int error = n == 0 ? ECONNRESET : errno == EAGAIN ? ETIMEDOUT : errno;
            free(buf);
            return error;
        }
        char *newline = memchr(buf + len, '\n', (size_t)n);
        len += (size_t)n;
        if (newline) {
            *newline = '\0';
            *line_out = buf;
            return 0;
        }
    }
}

/* Sends the request line and reads the reply line. */
static int cli_exchange(const struct cli_ctx *ctx, const char *request, char **reply)
{
    int fd = -1;
    int error = cli_connect(ctx, &fd);

    if (error) {
        return cli_unreachable(ctx, error);
    }
    error = cli_send_all(fd, request, strlen(request));
    if (!error) {
        error = cli_recv_line(fd, reply);
    }
    close(fd);
    if (error) {
        fprintf(stderr, "weft: no reply from weftd at %s: %s\n", ctx->socket_path, strerror(error));
        return CLI_EXIT_UNREACHABLE;
    }
    return CLI_EXIT_OK;
}

int cli_call(const struct cli_ctx *ctx, const char *cmd, json_t *args, json_t **data)
{
    json_t *request = json_pack("{ss so}", "cmd", cmd, "args", args ? args : json_object());
    char *text = request ? json_dumps(request, JSON_COMPACT) : NULL;
    char *line = NULL;
    json_error_t jerr;
    int status;

    json_decref(request);
    if (!text) {
        fputs("weft: cannot build the request (out of memory?)\n", stderr);
        return CLI_EXIT_ERROR;
    }
    /* json_dumps() never writes a raw newline: it ends the request. */
    size_t len = strlen(text);
    char *request_line = realloc(text, len + 2);
    if (!request_line) {
        free(text);
        fputs("weft: out of memory\n", stderr);
        return CLI_EXIT_ERROR;
    }
    memcpy(request_line + len, "\n", 2);
    status = cli_exchange(ctx, request_line, &line);
    free(request_line);
    if (status != CLI_EXIT_OK) {
        return status;
    }

    json_t *reply = json_loads(line, 0, &jerr);
    free(line);
    json_t *ok = json_object_get(reply, "ok");
    if (!json_is_object(reply) || !json_is_boolean(ok)) {
        fprintf(stderr, "weft: weftd at %s sent a reply weft does not understand%s%s\n",
                ctx->socket_path, reply ? "" : ": ", reply ? "" : jerr.text);
        json_decref(reply);
        return CLI_EXIT_ERROR;
    }
    if (!json_is_true(ok)) {
        const char *error = json_string_value(json_object_get(reply, "error"));
        fprintf(stderr, "weft: %s\n", error && *error ? error : "weftd refused the request");
        json_decref(reply);
        return CLI_EXIT_ERROR;
    }
    if (data) {
        json_t *value = json_object_get(reply, "data");
        *data = json_incref(value ? value : json_null());
    }
    json_decref(reply);
    return CLI_EXIT_OK;
}

int cli_query(const struct cli_ctx *ctx, const char *prog, const char *cmd, json_t *args,
              void (*print_table)(json_t *data))
{
    json_t *data = NULL;
    int status = cli_call(ctx, cmd, args, &data);

    if (status != CLI_EXIT_OK) {
        return status;
    }
    if (ctx->format == CLI_FORMAT_JSON) {
        cli_print_json(data);
    } else {
        print_table(data);
    }
    json_decref(data);
    return cli_finish(prog, CLI_EXIT_OK);
}
