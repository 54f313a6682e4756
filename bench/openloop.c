/* openloop: a constant-rate (open-loop) HTTP/1.1 load generator for bench_api.py.
 *
 * wrk keeps N connections busy: each sends its next request when the last is answered, so the
 * offered load falls as the server slows, and the time a request would have waited to be sent
 * is never measured ("coordinated omission"). A payment gateway does not wait for our answers
 * before its customers pay: requests arrive at their own rate. This sends request i at
 * t0 + i / rate whatever happened before (wrk2's model), on up to `connections` keep-alive
 * connections with one request in flight each, and measures each latency from the time the
 * request was due, not the time it went out: if no connection was free, the wait counts.
 *
 * The requests are the lines first .. first + count - 1 of a JSON-lines traffic file: one
 * transaction per request, or `batch` of them as {"transactions": [...]}. The service key comes
 * from the environment (OPENLOOP_KEY), never the command line.
 *
 *   openloop HOST PORT PATH TRAFFIC FIRST BATCH RATE SECONDS CONNECTIONS
 *
 * RATE is requests per second. Prints one line, RESULT {json}: requests sent, answered (2xx),
 * errors (other statuses, closed connections, no answer within 30 s of the last send), the
 * achieved rate, the latency percentiles from the due time, how late the sends were, and the
 * median latency of the first and of the last quarter of the requests (by due time).
 * Loopback only; bounded by SECONDS plus the 30 s drain.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DRAIN_S 30.0

typedef struct {
    char *data;
    size_t len;
} request_t;

typedef struct {
    int fd;
    long req;        /* the request in flight, -1 when idle */
    size_t written;  /* bytes of it written so far */
    char *buf;       /* the response so far */
    size_t len, cap;
    long need;       /* the whole response's length once its header is read, else -1 */
} conn_t;

static struct sockaddr_in server;
static int epfd;
static request_t *requests;
static double *latency;  /* ms from due to answered, per request; < 0: not answered */
static int *status;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what) {
    perror(what);
    exit(2);
}

static int open_conn(conn_t *c, int index) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    if (connect(fd, (struct sockaddr *)&server, sizeof server) < 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (unsigned)index};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
    c->fd = fd;
    c->req = -1;
    c->len = 0;
    c->need = -1;
    return 0;
}

static void watch(conn_t *c, int index, unsigned events) {
    struct epoll_event ev = {.events = events, .data.u32 = (unsigned)index};
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) die("epoll_ctl");
}

/* Writes what is left of the request in flight; 0 when all of it is out, 1 when the socket is
 * full (EPOLLOUT is then watched), -1 on error. */
static int pump(conn_t *c, int index) {
    request_t *r = &requests[c->req];
    while (c->written < r->len) {
        ssize_t n = write(c->fd, r->data + c->written, r->len - c->written);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                watch(c, index, EPOLLIN | EPOLLOUT);
                return 1;
            }
            return -1;
        }
        c->written += (size_t)n;
    }
    watch(c, index, EPOLLIN);
    return 0;
}

/* The length of a complete response header in buf (through the blank line), else 0. */
static long header_length(const char *buf, size_t len) {
    for (size_t i = 3; i < len; i++)
        if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r')
            return (long)(i + 1);
    return 0;
}

static long content_length(const char *buf, long header) {
    const char *name = "\ncontent-length:";
    size_t n = strlen(name);
    for (long i = 0; i + (long)n < header; i++)
        if (strncasecmp(buf + i, name, n) == 0) return strtol(buf + i + n, NULL, 10);
    return -1;
}

static char *read_lines(const char *path, long first, long count, size_t *total) {
    FILE *f = fopen(path, "r");
    if (!f) die(path);
    char *line = NULL;
    size_t cap = 0, size = 0, room = 1 << 20;
    char *all = malloc(room);
    long at = 0, taken = 0;
    ssize_t n;
    while (taken < count && (n = getline(&line, &cap, f)) > 0) {
        if (++at < first) continue;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
        if (size + (size_t)n + 1 > room) {
            while (size + (size_t)n + 1 > room) room *= 2;
            all = realloc(all, room);
        }
        memcpy(all + size, line, (size_t)n);
        size += (size_t)n;
        all[size++] = '\n';
        taken++;
    }
    free(line);
    fclose(f);
    if (taken < count) {
        fprintf(stderr, "openloop: %s has %ld lines from line %ld, %ld needed\n", path, taken,
                first, count);
        exit(2);
    }
    *total = size;
    return all;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(const double *sorted, long n, double p) {
    if (n == 0) return 0.0;
    long k = (long)(p / 100.0 * (double)n + 0.5);
    if (k < 1) k = 1;
    if (k > n) k = n;
    return sorted[k - 1];
}

int main(int argc, char **argv) {
    if (argc != 10) {
        fprintf(stderr, "usage: openloop HOST PORT PATH TRAFFIC FIRST BATCH RATE SECONDS "
                        "CONNECTIONS\n");
        return 2;
    }
    const char *host = argv[1], *path = argv[3], *traffic = argv[4];
    int port = atoi(argv[2]), connections = atoi(argv[9]);
    long first = atol(argv[5]), batch = atol(argv[6]);
    double rate = atof(argv[7]), seconds = atof(argv[8]);
    const char *key = getenv("OPENLOOP_KEY");
    if (!key || port <= 0 || batch < 1 || rate <= 0 || seconds <= 0 || connections < 1) {
        fprintf(stderr, "openloop: bad arguments or OPENLOOP_KEY not set\n");
        return 2;
    }
    long total = (long)(rate * seconds);
    memset(&server, 0, sizeof server);
    server.sin_family = AF_INET;
    server.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, host, &server.sin_addr) != 1) {
        fprintf(stderr, "openloop: HOST must be an IPv4 address\n");
        return 2;
    }

    /* Every request built before the clock starts. */
    size_t size;
    char *lines = read_lines(traffic, first, total * batch, &size);
    requests = calloc((size_t)total, sizeof *requests);
    latency = malloc((size_t)total * sizeof *latency);
    status = calloc((size_t)total, sizeof *status);
    char *line = lines;
    for (long i = 0; i < total; i++) {
        char *start = line, *end = line;
        for (long k = 0; k < batch; k++) {
            end = strchr(end, '\n');
            if (k < batch - 1) *end++ = ',';
        }
        *end = '\0';
        line = end + 1;
        size_t body = (size_t)(end - start) + (batch > 1 ? 19 : 0);
        size_t room = body + strlen(path) + strlen(host) + strlen(key) + 256;
        char *r = malloc(room);
        int head = snprintf(r, room,
                            "POST %s HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: Bearer %s\r\n"
                            "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                            path, host, port, key, body, batch > 1 ? "{\"transactions\":[" : "");
        memcpy(r + head, start, (size_t)(end - start));
        size_t len = (size_t)head + (size_t)(end - start);
        if (batch > 1) {
            memcpy(r + len, "]}", 2);
            len += 2;
        }
        requests[i].data = r;
        requests[i].len = len;
        latency[i] = -1.0;
    }
    free(lines);

    epfd = epoll_create1(0);
    if (epfd < 0) die("epoll_create1");
    conn_t *conns = calloc((size_t)connections, sizeof *conns);
    int *idle = malloc((size_t)connections * sizeof *idle);
    int idle_n = 0;
    for (int i = 0; i < connections; i++) {
        conns[i].cap = 1 << 16;
        conns[i].buf = malloc(conns[i].cap);
        if (open_conn(&conns[i], i) < 0) die("connect");
        idle[idle_n++] = i;
    }

    struct epoll_event events[256];
    long next = 0, done = 0, errors = 0, late = 0;
    double max_send_delay = 0.0, t0 = now() + 0.01, last_answer = t0;
    double stop_by = t0 + seconds + DRAIN_S;
    while (done < total) {
        double t = now();
        if (t > stop_by) break;
        /* send every request that is due, on the free connections */
        while (next < total && idle_n > 0) {
            double due = t0 + (double)next / rate;
            if (due > t) break;
            int i = idle[--idle_n];
            conn_t *c = &conns[i];
            c->req = next;
            c->written = 0;
            c->len = 0;
            c->need = -1;
            double delay = t - due;
            if (delay > max_send_delay) max_send_delay = delay;
            if (delay > 0.001) late++;
            next++;
            if (pump(c, i) < 0) {
                errors++, done++;
                close(c->fd);
                if (open_conn(c, i) < 0) die("reconnect");
                idle[idle_n++] = i;
            }
            t = now();
        }
        struct timespec ts = {0, 5000000L};  /* nothing to send: look at the clock again soon */
        if (next < total && idle_n > 0) {      /* else wake when the next request is due */
            double wait = t0 + (double)next / rate - now();
            if (wait < 0) wait = 0;
            ts.tv_sec = (time_t)wait;
            ts.tv_nsec = (long)((wait - (double)ts.tv_sec) * 1e9);
        }
        int n = epoll_pwait2(epfd, events, 256, &ts, NULL);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_pwait2");
        }
        for (int e = 0; e < n; e++) {
            int i = (int)events[e].data.u32;
            conn_t *c = &conns[i];
            int failed = 0;
            if (c->req >= 0 && (events[e].events & EPOLLOUT) && c->written < requests[c->req].len)
                failed = pump(c, i) < 0;
            if (!failed && (events[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
                for (;;) {
                    if (c->cap - c->len < 8192) {
                        c->cap *= 2;
                        c->buf = realloc(c->buf, c->cap);
                    }
                    ssize_t got = read(c->fd, c->buf + c->len, c->cap - c->len);
                    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
                    if (got <= 0) {
                        failed = 1;
                        break;
                    }
                    c->len += (size_t)got;
                }
                if (c->req >= 0 && c->need < 0) {
                    long header = header_length(c->buf, c->len);
                    if (header > 0) {
                        long body = content_length(c->buf, header);
                        if (body < 0) failed = 1;
                        c->need = header + body;
                        status[c->req] = c->len > 9 ? atoi(c->buf + 9) : 0;
                    }
                }
                if (!failed && c->req >= 0 && c->need >= 0 && (long)c->len >= c->need) {
                    double t_done = now();
                    long r = c->req;
                    latency[r] = (t_done - (t0 + (double)r / rate)) * 1000.0;
                    if (status[r] < 200 || status[r] > 299) errors++;
                    last_answer = t_done;
                    done++;
                    c->req = -1;
                    c->len = 0;
                    c->need = -1;
                    idle[idle_n++] = i;
                } else if (failed && c->req < 0) {
                    /* an idle connection the server closed: another in its place (still idle) */
                    close(c->fd);
                    if (open_conn(c, i) < 0) die("reconnect");
                    failed = 0;
                }
            }
            if (failed) {
                errors++, done++;
                close(c->fd);
                if (open_conn(c, i) < 0) die("reconnect");
                idle[idle_n++] = i;
            }
        }
    }
    long unanswered = next - done;  /* still in flight at the drain's end */
    long unsent = total - next;
    errors += unanswered + unsent;

    double *ok = malloc((size_t)total * sizeof *ok);
    long answered = 0;
    for (long i = 0; i < total; i++)
        if (latency[i] >= 0 && status[i] >= 200 && status[i] <= 299) ok[answered++] = latency[i];
    qsort(ok, (size_t)answered, sizeof *ok, compare);
    double span = last_answer - t0;
    /* The median latency of the first and of the last quarter of the requests (by due time):
     * alike for a server that keeps up; the last far later for one falling behind. */
    double quarter[2] = {0.0, 0.0};
    long q = total / 4;
    double *part = malloc((size_t)(q > 0 ? q : 1) * sizeof *part);
    for (int which = 0; which < 2 && q > 0; which++) {
        long n = 0, from = which == 0 ? 0 : total - q;
        for (long i = from; i < from + q; i++)
            if (latency[i] >= 0 && status[i] >= 200 && status[i] <= 299) part[n++] = latency[i];
        qsort(part, (size_t)n, sizeof *part, compare);
        quarter[which] = percentile(part, n, 50);
    }
    free(part);
    printf("RESULT {\"offered_rate\": %.3f, \"seconds\": %.3f, \"requests\": %ld, "
           "\"answered\": %ld, \"errors\": %ld, \"answered_rate\": %.3f, \"span\": %.3f, "
           "\"p50\": %.3f, \"p95\": %.3f, \"p99\": %.3f, \"p999\": %.3f, \"max\": %.3f, "
           "\"late_sends\": %ld, \"max_send_delay_ms\": %.3f, \"first_quarter_p50\": %.3f, "
           "\"last_quarter_p50\": %.3f}\n",
           rate, seconds, total, answered, errors, span > 0 ? (double)answered / span : 0.0,
           span, percentile(ok, answered, 50), percentile(ok, answered, 95),
           percentile(ok, answered, 99), percentile(ok, answered, 99.9),
           answered ? ok[answered - 1] : 0.0, late, max_send_delay * 1000.0, quarter[0],
           quarter[1]);
    return 0;
}
