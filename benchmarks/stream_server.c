/* A scripted OpenAI-style streaming server for measuring *clients*, in C: the same wire behaviour as
 * benchmarks/stream_server.py (which documents it), for the points where that Python server is
 * itself the bottleneck. At 448 streams of 100 tokens/s it wrote 44,800 chunks a second from one
 * core at ~22 us each (12 us of them the kernel's loopback send on the 2-core VM): ~90% of its core,
 * and its schedule ran tens of ms late whenever the VM was noisy, which the client's TTFT and
 * throughput then showed. Here a chunk costs the send and little more.
 *
 * Written by hand: no library serves a scripted token schedule with per-stream timing of its own.
 * Only what benchmarks/client_capacity.py and the clients it drives use:
 *   POST /v1/completions, /v1/chat/completions: streamed (SSE, chunked on kept-alive connections,
 *     close-delimited with "Connection: close") or not (usage at once: prompt tokens = words + 1,
 *     what clients count prompt lengths with);
 *   GET /v1/models (clients' preflight); GET /stats (the server's view since the last call: median
 *     TTFT and per-token gap as written, p99 lateness of its writes; then reset).
 * Chunk i of a stream is due at t0 + TTFT + i * GAP (t0: request read), on an absolute schedule;
 * a min-heap of due times and epoll_pwait2 with a nanosecond timeout.
 *
 * Build: cc -O2 -o stream_server benchmarks/stream_server.c
 * Run:   ./stream_server PORT [--ttft-ms 20] [--gap-ms 10] [--tokens 100]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_FD 65536
#define RBUF 65536

typedef struct {
    int used, fd, keep, streaming, chat, sent, n, prompt_tokens;
    double t0, t_first;
    char *in;
    size_t in_len;
    char *out; /* bytes the socket did not take yet */
    size_t out_len, out_cap;
    unsigned gen; /* bumps when the connection closes: stale heap entries are skipped */
} Conn;

typedef struct { double due; int fd; unsigned gen; } Due;

static Conn conns[MAX_FD];
static Due *heap;
static size_t heap_n, heap_cap;
static double TTFT = 0.020, GAP = 0.010;
static int TOKENS = 100, ep;

static double *ttfts, *gaps, *lates;
static size_t n_ttft, n_gap, n_late, cap_ttft, cap_gap, cap_late;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void push_val(double **a, size_t *n, size_t *cap, double v) {
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 4096;
        *a = realloc(*a, *cap * sizeof(double));
    }
    (*a)[(*n)++] = v;
}

static void heap_push(double due, int fd, unsigned gen) {
    if (heap_n == heap_cap) {
        heap_cap = heap_cap ? heap_cap * 2 : 1024;
        heap = realloc(heap, heap_cap * sizeof(Due));
    }
    size_t i = heap_n++;
    while (i && heap[(i - 1) / 2].due > due) {
        heap[i] = heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    heap[i] = (Due){due, fd, gen};
}

static Due heap_pop(void) {
    Due top = heap[0], last = heap[--heap_n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= heap_n) break;
        if (c + 1 < heap_n && heap[c + 1].due < heap[c].due) c++;
        if (heap[c].due >= last.due) break;
        heap[i] = heap[c];
        i = c;
    }
    if (heap_n) heap[i] = last;
    return top;
}

static void close_conn(Conn *c) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->in);
    free(c->out);
    unsigned gen = c->gen + 1;
    memset(c, 0, sizeof(*c));
    c->gen = gen;
}

/* Send now what the socket takes; keep the rest for EPOLLOUT. */
static void send_bytes(Conn *c, const char *p, size_t len) {
    if (c->out_len == 0) {
        ssize_t w = send(c->fd, p, len, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) return; /* the close will show as EPOLLHUP/read 0 */
            w = 0;
        }
        p += w;
        len -= (size_t)w;
        if (!len) return;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.fd = c->fd};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    }
    if (c->out_len + len > c->out_cap) {
        c->out_cap = (c->out_len + len) * 2;
        c->out = realloc(c->out, c->out_cap);
    }
    memcpy(c->out + c->out_len, p, len);
    c->out_len += len;
}

static void flush_out(Conn *c) {
    while (c->out_len) {
        ssize_t w = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
        if (w <= 0) {
            if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
            c->out_len = 0;
            break;
        }
        memmove(c->out, c->out + w, c->out_len - (size_t)w);
        c->out_len -= (size_t)w;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = c->fd};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* One SSE event, framed as a chunk on kept-alive connections. */
static void send_event(Conn *c, const char *data, size_t len) {
    char buf[1024];
    size_t n = 0;
    if (c->keep) n = (size_t)snprintf(buf, sizeof buf, "%zx\r\n", len);
    if (n + len + 2 > sizeof buf) return;
    memcpy(buf + n, data, len);
    n += len;
    if (c->keep) {
        memcpy(buf + n, "\r\n", 2);
        n += 2;
    }
    send_bytes(c, buf, n);
}

static void reply_json(Conn *c, const char *body) {
    char buf[4096];
    int n = snprintf(buf, sizeof buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n%s",
                     strlen(body), c->keep ? "" : "Connection: close\r\n", body);
    send_bytes(c, buf, (size_t)n);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_ms(double *a, size_t n) {
    if (!n) return -1;
    qsort(a, n, sizeof(double), cmp_double);
    return a[n / 2] * 1000.0;
}

static void reply_stats(Conn *c) {
    char body[512];
    size_t requests = n_ttft;
    double ttft = median_ms(ttfts, n_ttft), gap = median_ms(gaps, n_gap), late = -1;
    if (n_late) {
        qsort(lates, n_late, sizeof(double), cmp_double);
        late = lates[(size_t)(0.99 * (double)(n_late - 1))] * 1000.0;
    }
    char t[64], g[64], l[64];
    if (ttft < 0) strcpy(t, "null"); else snprintf(t, sizeof t, "%.6f", ttft);
    if (gap < 0) strcpy(g, "null"); else snprintf(g, sizeof g, "%.6f", gap);
    if (late < 0) strcpy(l, "null"); else snprintf(l, sizeof l, "%.6f", late);
    snprintf(body, sizeof body, "{\"requests\": %zu, \"ttft_ms_p50\": %s, \"gap_ms_p50\": %s, \"late_ms_p99\": %s}",
             requests, t, g, l);
    n_ttft = n_gap = n_late = 0;
    reply_json(c, body);
}

/* Words of the JSON string starting at p (just past its opening quote). */
static int count_words(const char *p, const char *end) {
    int words = 0, in_word = 0;
    for (; p < end && *p != '"'; p++) {
        if (*p == '\\' && p + 1 < end) {
            p++;
            if (*p == 'n' || *p == 't' || *p == 'r') {
                in_word = 0;
                continue;
            }
        }
        if (isspace((unsigned char)*p)) in_word = 0;
        else if (!in_word) in_word = 1, words++;
    }
    return words;
}

static const char *json_value(const char *body, const char *end, const char *key) {
    size_t k = strlen(key);
    for (const char *p = body; p + k < end; p++) {
        if (*p == '"' && !memcmp(p + 1, key, k) && p[k + 1] == '"') {
            p += k + 2;
            while (p < end && (isspace((unsigned char)*p) || *p == ':')) p++;
            return p;
        }
    }
    return NULL;
}

static int prompt_tokens(const char *body, const char *end, int chat) {
    if (chat) { /* every message's content */
        int words = 0;
        for (const char *p = body; (p = json_value(p, end, "content")); p++)
            if (*p == '"') words += count_words(p + 1, end);
        return words + 1;
    }
    const char *p = json_value(body, end, "prompt");
    if (!p) return 1;
    if (*p == '"') return count_words(p + 1, end) + 1;
    if (*p == '[') { /* token ids */
        int n = 0, any = 0;
        for (p++; p < end && *p != ']'; p++) {
            if (*p == ',') n++;
            else if (!isspace((unsigned char)*p)) any = 1;
        }
        return any ? n + 1 : 0;
    }
    return 1;
}

static void handle(Conn *c, const char *method, const char *path, const char *body, size_t body_len) {
    const char *end = body + body_len;
    if (!strcmp(method, "GET") && !strncmp(path, "/v1/models", 10)) {
        reply_json(c, "{\"object\": \"list\", \"data\": [{\"id\": \"fake\", \"object\": \"model\"}]}");
        return;
    }
    if (!strcmp(method, "GET") && !strcmp(path, "/stats")) {
        reply_stats(c);
        return;
    }
    int chat = !strcmp(path, "/v1/chat/completions");
    if (!strcmp(method, "POST") && (chat || !strcmp(path, "/v1/completions"))) {
        c->chat = chat;
        c->prompt_tokens = prompt_tokens(body, end, chat);
        const char *mt = json_value(body, end, "max_tokens");
        c->n = mt && isdigit((unsigned char)*mt) ? atoi(mt) : TOKENS;
        const char *st = json_value(body, end, "stream");
        if (!(st && !strncmp(st, "true", 4))) {
            char out[512];
            snprintf(out, sizeof out, "{\"choices\": [{\"index\": 0, \"text\": \" tok\", \"finish_reason\": \"length\"}], "
                     "\"usage\": {\"prompt_tokens\": %d, \"completion_tokens\": 1}}", c->prompt_tokens);
            reply_json(c, out);
            return;
        }
        c->t0 = now_s();
        c->sent = 0;
        c->streaming = 1;
        const char *head = c->keep
            ? "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"
            : "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n";
        send_bytes(c, head, strlen(head));
        heap_push(c->t0 + TTFT, c->fd, c->gen);
        return;
    }
    const char *nf = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    send(c->fd, nf, strlen(nf), MSG_NOSIGNAL);
    close_conn(c);
}

/* Requests by Content-Length, one at a time per connection (none read while one streams). */
static void parse_requests(Conn *c) {
    while (c->used && !c->streaming) {
        char *hend = memmem(c->in, c->in_len, "\r\n\r\n", 4);
        if (!hend) return;
        size_t head_len = (size_t)(hend - c->in) + 4, body_len = 0;
        c->keep = 1;
        char *line = c->in, *stop = hend;
        char method[16] = "", path[256] = "";
        sscanf(c->in, "%15s %255s", method, path);
        while (line < stop) {
            char *eol = memmem(line, (size_t)(stop - line), "\r\n", 2);
            if (!eol) eol = stop;
            if (!strncasecmp(line, "content-length:", 15)) body_len = (size_t)atol(line + 15);
            if (!strncasecmp(line, "connection:", 11)) {
                for (char *p = line + 11; p + 5 <= eol; p++)
                    if (!strncasecmp(p, "close", 5)) c->keep = 0;
            }
            line = eol + 2;
        }
        if (c->in_len < head_len + body_len) return;
        handle(c, method, path, c->in + head_len, body_len);
        if (!c->used) return;
        memmove(c->in, c->in + head_len + body_len, c->in_len - head_len - body_len);
        c->in_len -= head_len + body_len;
    }
}

static void emit(Conn *c, double now) {
    static const char text[] = "data: {\"id\":\"x\",\"object\":\"text_completion\",\"choices\":[{\"index\":0,\"text\":\" tok\",\"finish_reason\":null}]}\n\n";
    static const char chat[] = "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" tok\"},\"finish_reason\":null}]}\n\n";
    double due = c->t0 + TTFT + c->sent * GAP;
    push_val(&lates, &n_late, &cap_late, now > due ? now - due : 0.0);
    if (c->sent == 0) {
        c->t_first = now;
        push_val(&ttfts, &n_ttft, &cap_ttft, now - c->t0);
    }
    c->sent++;
    if (c->chat) send_event(c, chat, sizeof chat - 1);
    else send_event(c, text, sizeof text - 1);
    if (c->sent < c->n) {
        heap_push(c->t0 + TTFT + c->sent * GAP, c->fd, c->gen);
        return;
    }
    if (c->n > 1) push_val(&gaps, &n_gap, &cap_gap, (now - c->t_first) / (c->n - 1));
    char usage[512];
    int n = snprintf(usage, sizeof usage,
                     "data: {\"choices\": [], \"usage\": {\"prompt_tokens\": %d, \"completion_tokens\": %d, "
                     "\"total_tokens\": %d}, \"server_ttft_ms\": %.6f}\n\ndata: [DONE]\n\n",
                     c->prompt_tokens, c->n, c->prompt_tokens + c->n, (c->t_first - c->t0) * 1000.0);
    send_event(c, usage, (size_t)n);
    c->streaming = 0;
    if (c->keep) {
        send_bytes(c, "0\r\n\r\n", 5);
        parse_requests(c); /* a request that came while this one streamed */
    } else {
        close_conn(c);
    }
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT [--ttft-ms 20] [--gap-ms 10] [--tokens 100]\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--ttft-ms")) TTFT = atof(argv[i + 1]) / 1000.0;
        else if (!strcmp(argv[i], "--gap-ms")) GAP = atof(argv[i + 1]) / 1000.0;
        else if (!strcmp(argv[i], "--tokens")) TOKENS = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (struct sockaddr *)&addr, sizeof addr) || listen(ls, 4096)) {
        perror("listen");
        return 1;
    }
    ep = epoll_create1(0);
    struct epoll_event lev = {.events = EPOLLIN, .data.fd = ls};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &lev);
    struct epoll_event evs[1024];
    char rbuf[RBUF];
    for (;;) {
        double now = now_s();
        while (heap_n && heap[0].due <= now) {
            Due d = heap_pop();
            Conn *c = &conns[d.fd];
            if (c->used && c->gen == d.gen && c->streaming) emit(c, now);
            now = now_s();
        }
        struct timespec to, *top = NULL;
        if (heap_n) {
            double wait = heap[0].due - now_s();
            if (wait < 0) wait = 0;
            to.tv_sec = (time_t)wait;
            to.tv_nsec = (long)((wait - (double)to.tv_sec) * 1e9);
            top = &to;
        }
        int n = epoll_pwait2(ep, evs, 1024, top, NULL);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == ls) {
                int cfd;
                while ((cfd = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if (cfd >= MAX_FD) {
                        close(cfd);
                        continue;
                    }
                    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    Conn *c = &conns[cfd];
                    unsigned gen = c->gen;
                    memset(c, 0, sizeof(*c));
                    c->gen = gen;
                    c->used = 1;
                    c->fd = cfd;
                    struct epoll_event ev = {.events = EPOLLIN, .data.fd = cfd};
                    epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev);
                }
                continue;
            }
            Conn *c = &conns[fd];
            if (!c->used) continue;
            if (evs[i].events & EPOLLOUT) flush_out(c);
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                ssize_t r = recv(fd, rbuf, sizeof rbuf, 0);
                if (r <= 0) {
                    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
                    close_conn(c);
                    continue;
                }
                c->in = realloc(c->in, c->in_len + (size_t)r);
                memcpy(c->in + c->in_len, rbuf, (size_t)r);
                c->in_len += (size_t)r;
                parse_requests(c);
            }
        }
    }
}
