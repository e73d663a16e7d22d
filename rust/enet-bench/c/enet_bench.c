/*
 * C ENet side of the rust_enet benchmark suite (rust/enet-bench).
 *
 * One program, one role per process, chosen by argv[1]. Every role mirrors the Rust role of the
 * same name in src/roles.rs and src/roles/: same message sizes, same channels, same service
 * pattern, same deadlines, same output. Servers bind 127.0.0.1 on an ephemeral port and print
 * "PORT <n>" first; every role ends with one "RESULT key=value ..." line and exits by itself.
 *
 * Service pattern (both implementations):
 *   - servers and paced clients: one enet_host_service(host, &event, 1) per loop iteration
 *     (waits up to 1 ms, returns early on an event), then enet_host_check_events until empty;
 *   - the throughput sender tops its backlog up, then services the same way (1 ms wait);
 *   - the flood sender (unsequenced rate) queues 64 messages, enet_host_service(..., 0), drains;
 *   - processes with several client hosts (fan-in, idle on many sockets) sweep them: each
 *     serviced with a zero timeout, then a sleep (fan-in 1 ms, idle 20 ms); one host: a 1 ms wait;
 *   - replies are queued with enet_peer_send and leave with the next service call (no flush).
 *
 * CPU time is read from /proc/self/schedstat (nanoseconds of the single thread), falling back to
 * utime+stime of /proc/self/stat; peak memory is VmHWM of /proc/self/status.
 *
 * Roles:
 *   tput-server SECS | tput-client PORT SECS [BACKLOG]
 *   fanin-server N SECS | fanin-clients PORT N SECS [HOSTS]
 *   idle-server N SECS | idle-clients PORT N SECS [HOSTS]
 *   echo-server | lat-client PORT SECS
 *   bulk-server | bulk-client PORT BYTES
 *   flood-server SECS | flood-client PORT SECS
 *   udp-sink SECS | udp-source PORT SECS        (raw UDP, sendmmsg/recvmmsg batches of 64)
 *   empty-service N SECS                        (N hosts without peers, swept with timeout 0)
 */
#define _GNU_SOURCE
#include <enet/enet.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHANNEL_UNRELIABLE 0
#define CHANNEL_RELIABLE 1
#define CHANNELS 2
/* Hard limit on any role's run time beyond its nominal length. */
#define GRACE_US 20000000LL

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint64_t cpu_ns(void) {
    FILE *f = fopen("/proc/self/schedstat", "r");
    unsigned long long ns = 0;
    if (f) {
        int ok = fscanf(f, "%llu", &ns) == 1;
        fclose(f);
        if (ok) return ns;
    }
    f = fopen("/proc/self/stat", "r");
    if (!f) return 0;
    char buf[2048];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return 0;
    unsigned long long ut = 0, st = 0;
    /* after ") " come fields 3..; utime and stime are fields 14 and 15 */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return 0;
    return (ut + st) * (1000000000ULL / (unsigned long long)sysconf(_SC_CLK_TCK));
}

static long vm_hwm_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    long kib = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
    fclose(f);
    return kib;
}

static void die(const char *msg) {
    fprintf(stderr, "enet_bench: %s\n", msg);
    exit(2);
}

static ENetHost *make_host(int bind_port, size_t peers) {
    ENetAddress address;
    ENetHost *host;
    if (bind_port >= 0) {
        enet_address_set_host_ip(&address, "127.0.0.1");
        address.port = (enet_uint16)bind_port;
        host = enet_host_create(&address, peers, CHANNELS, 0, 0);
    } else {
        host = enet_host_create(NULL, peers, CHANNELS, 0, 0);
    }
    if (!host) die("enet_host_create failed");
    /* Diagnostic (--c-default-buffers): replace ENet's 256 KiB socket buffers with the size given
     * (the orchestrator passes half the system default, which the kernel doubles), i.e. what a
     * std-only driver that cannot set SO_RCVBUF/SO_SNDBUF gets. */
    const char *buffer = getenv("BENCH_SOCKET_BUFFER");
    if (buffer) {
        enet_socket_set_option(host->socket, ENET_SOCKOPT_RCVBUF, atoi(buffer));
        enet_socket_set_option(host->socket, ENET_SOCKOPT_SNDBUF, atoi(buffer));
    }
    if (bind_port >= 0) {
        ENetAddress bound;
        if (enet_socket_get_address(host->socket, &bound) != 0) die("getsockname failed");
        printf("PORT %u\n", bound.port);
        fflush(stdout);
    }
    return host;
}

static ENetAddress server_address(const char *port) {
    ENetAddress a;
    enet_address_set_host_ip(&a, "127.0.0.1");
    a.port = (enet_uint16)atoi(port);
    return a;
}

static void put_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint64_t get_u64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* p-th percentile (0..100) of n sorted samples, nearest rank. */
static int64_t percentile(const int64_t *sorted, size_t n, double p) {
    if (n == 0) return -1;
    size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return sorted[rank - 1];
}

typedef struct {
    int64_t *v;
    size_t n, cap;
} Samples;

static void samples_push(Samples *s, int64_t x) {
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4096;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v) die("out of memory");
    }
    s->v[s->n++] = x;
}

/* One enet_host_service(host, wait_ms), then every queued event: connects and disconnects are
 * counted (where a counter is given), received packets handed to on_receive and destroyed. */
static void drain(ENetHost *host, int wait_ms, void (*on_receive)(ENetEvent *), size_t *connects,
                  size_t *disconnects) {
    ENetEvent ev;
    int r = enet_host_service(host, &ev, wait_ms);
    while (r > 0) {
        if (ev.type == ENET_EVENT_TYPE_RECEIVE) {
            if (on_receive) on_receive(&ev);
            enet_packet_destroy(ev.packet);
        } else if (ev.type == ENET_EVENT_TYPE_CONNECT && connects) {
            (*connects)++;
        } else if (ev.type == ENET_EVENT_TYPE_DISCONNECT && disconnects) {
            (*disconnects)++;
        }
        r = enet_host_check_events(host, &ev);
    }
}

/* Disconnects gracefully and services until the server confirms it (at most 1 s). */
static void leave_server(ENetHost *host, ENetPeer *peer) {
    enet_peer_disconnect(peer, 0);
    int64_t until = now_us() + 1000000;
    size_t gone = 0;
    while (!gone && now_us() < until) drain(host, 1, NULL, NULL, &gone);
}

/* Ends every connection of host at once and sends the DISCONNECTs, so the remote side of a
 * measurement stops without waiting for a timeout. */
static void disconnect_all_now(ENetHost *host) {
    for (size_t i = 0; i < host->peerCount; i++) enet_peer_disconnect_now(&host->peers[i], 0);
    enet_host_flush(host);
}

/* ---- 1. reliable throughput ------------------------------------------------------------- */

#define TPUT_MESSAGE 1024
/* Messages queued or unacknowledged that the sender keeps at most (same on the Rust side);
 * scenario 1b passes a deeper backlog (4096) as the client's third argument. */
#define TPUT_BACKLOG 256

/* What a receiving server (throughput, flood) measured: the messages after the first one and
 * their bytes, over its window's wall and CPU time (all 0 if nothing arrived). */
typedef struct {
    uint64_t bytes, messages, cpu;
    int64_t wall;
} Window;

/* The receiving server of the throughput and flood scenarios: its window starts with the first
 * message and lasts secs, or ends when the sender leaves; then every connection is ended. */
static Window receive_window(double secs) {
    ENetHost *host = make_host(0, 4);
    ENetEvent ev;
    int64_t window_us = (int64_t)(secs * 1e6), hard = now_us() + window_us + GRACE_US, start = 0;
    uint64_t cpu0 = 0;
    Window w = {0};
    while (now_us() < hard) {
        if (start && now_us() - start >= window_us) break;
        if (enet_host_service(host, &ev, 1) <= 0) continue;
        do {
            if (ev.type == ENET_EVENT_TYPE_RECEIVE) {
                if (!start) {
                    start = now_us();
                    cpu0 = cpu_ns();
                } else {
                    w.bytes += ev.packet->dataLength;
                    w.messages++;
                }
                enet_packet_destroy(ev.packet);
            } else if (ev.type == ENET_EVENT_TYPE_DISCONNECT && start) {
                goto done;
            }
        } while (enet_host_check_events(host, &ev) > 0);
    }
done:
    if (start) {
        w.wall = now_us() - start;
        w.cpu = cpu_ns() - cpu0;
    }
    disconnect_all_now(host);
    enet_host_destroy(host);
    return w;
}

/* How a streaming client (throughput, flood) feeds its connection: copies of a size-byte
 * payload of fill bytes, sent with flags on channel, at most batch per pass and while fewer
 * than backlog are queued or unacknowledged; each pass then services with wait_ms. */
typedef struct {
    uint8_t fill;
    size_t size, batch;
    uint64_t backlog;
    enet_uint32 flags;
    enet_uint8 channel;
    int wait_ms;
} Feed;

/* Packets the streaming client queued that ENet has since freed (sent, and acknowledged if
 * reliable). */
static uint64_t stream_freed;
static void stream_on_free(ENetPacket *p) {
    (void)p;
    stream_freed++;
}

/* The sending client of the throughput and flood scenarios: feeds the server on port as f says
 * once connected (before, it services with a 1 ms wait), until the server leaves or the
 * deadline. */
static int stream_client(const char *port, double secs, Feed f) {
    ENetHost *host = make_host(-1, 1);
    ENetAddress addr = server_address(port);
    ENetPeer *peer = enet_host_connect(host, &addr, CHANNELS, 0);
    uint8_t *payload = malloc(f.size);
    if (!payload) die("out of memory");
    memset(payload, f.fill, f.size);
    int64_t hard = now_us() + (int64_t)(secs * 1e6) + GRACE_US;
    size_t connected = 0, gone = 0;
    uint64_t sent = 0;
    while (!gone && now_us() < hard) {
        for (size_t k = 0; connected && k < f.batch && sent - stream_freed < f.backlog; k++) {
            ENetPacket *p = enet_packet_create(payload, f.size, f.flags);
            p->freeCallback = stream_on_free;
            if (enet_peer_send(peer, f.channel, p) != 0) {
                p->freeCallback = NULL; /* never queued: not counted as freed either */
                enet_packet_destroy(p);
                break;
            }
            sent++;
        }
        drain(host, connected ? f.wait_ms : 1, NULL, &connected, &gone);
    }
    printf("RESULT sent=%llu hwm_kib=%ld\n", (unsigned long long)sent, vm_hwm_kib());
    free(payload);
    enet_host_destroy(host);
    return 0;
}

static int tput_server(double secs) {
    Window w = receive_window(secs);
    printf("RESULT bytes=%llu messages=%llu wall_us=%lld cpu_ns=%llu hwm_kib=%ld\n",
           (unsigned long long)w.bytes, (unsigned long long)w.messages, (long long)w.wall,
           (unsigned long long)w.cpu, vm_hwm_kib());
    return 0;
}

static int tput_client(const char *port, double secs, uint64_t backlog) {
    Feed f = {.fill = 0xA5, .size = TPUT_MESSAGE, .batch = SIZE_MAX, .backlog = backlog,
              .flags = ENET_PACKET_FLAG_RELIABLE, .channel = CHANNEL_RELIABLE, .wait_ms = 1};
    return stream_client(port, secs, f);
}

/* ---- 2. fan-in ---------------------------------------------------------------------------- */

#define FANIN_UNRELIABLE 64
#define FANIN_RELIABLE 128
#define FANIN_TICK_HZ 60
#define FANIN_RELIABLE_EVERY 6 /* 60 / 6 = 10 reliable messages per second */

/* Echo server shared by fan-in (N peers, measured window) and latency (N = 1, no window). */
static int echo_server(size_t n, double secs) {
    ENetHost *host = make_host(0, n + 16);
    ENetEvent ev;
    size_t connected = 0, disconnected = 0;
    int64_t window_start = 0, window_us = (int64_t)(secs * 1e6), hard_start = now_us();
    int64_t hard = hard_start + (int64_t)(secs * 1e6) + 60000000LL, wall = 0;
    uint64_t cpu0 = 0, cpu = 0, unreliable = 0, reliable = 0;
    uint32_t out0 = 0, in0 = 0, out = 0, in = 0; /* datagrams sent/received in the window */
    int measured = 0;
    while (now_us() < hard) {
        if (window_start && !measured && now_us() - window_start >= window_us) {
            cpu = cpu_ns() - cpu0;
            wall = now_us() - window_start;
            out = host->totalSentPackets - out0;
            in = host->totalReceivedPackets - in0;
            measured = 1;
        }
        if (connected > 0 && disconnected == connected) break;
        if (enet_host_service(host, &ev, 1) <= 0) continue;
        do {
            switch (ev.type) {
            case ENET_EVENT_TYPE_CONNECT:
                if (++connected == n && n > 1) {
                    window_start = now_us();
                    cpu0 = cpu_ns();
                    out0 = host->totalSentPackets;
                    in0 = host->totalReceivedPackets;
                }
                break;
            case ENET_EVENT_TYPE_DISCONNECT: disconnected++; break;
            case ENET_EVENT_TYPE_RECEIVE:
                if (ev.packet->flags & ENET_PACKET_FLAG_RELIABLE) {
                    reliable++;
                    /* echo the same packet: ownership passes to the peer's queue */
                    if (enet_peer_send(ev.peer, ev.channelID, ev.packet) != 0)
                        enet_packet_destroy(ev.packet);
                } else {
                    unreliable++;
                    enet_packet_destroy(ev.packet);
                }
                break;
            default: break;
            }
        } while (enet_host_check_events(host, &ev) > 0);
    }
    if (!measured && window_start) {
        cpu = cpu_ns() - cpu0;
        wall = now_us() - window_start;
        out = host->totalSentPackets - out0;
        in = host->totalReceivedPackets - in0;
    }
    printf("RESULT connected=%zu unreliable=%llu reliable=%llu wall_us=%lld cpu_ns=%llu dgrams_out=%u "
           "dgrams_in=%u hwm_kib=%ld\n",
           connected, (unsigned long long)unreliable, (unsigned long long)reliable, (long long)wall,
           (unsigned long long)cpu, out, in, vm_hwm_kib());
    enet_host_destroy(host);
    return 0;
}

/* Handshakes a client process keeps open at once while connecting many peers. */
#define CONNECT_PENDING 64

/* Client hosts of this process, as a sweep sees them: events are counted or handed on. */
typedef struct {
    ENetHost **hosts;
    size_t n;
    size_t connects, disconnects;
    void (*on_receive)(ENetEvent *);
} Sweep;

/* Services every client host once: one host with a 1 ms wait; several each with a zero timeout,
 * then a pause_us sleep. */
static void sweep(Sweep *s, useconds_t pause_us) {
    int wait_ms = s->n == 1 ? 1 : 0;
    for (size_t h = 0; h < s->n; h++)
        drain(s->hosts[h], wait_ms, s->on_receive, &s->connects, &s->disconnects);
    if (s->n > 1) usleep(pause_us);
}

/* Client hosts for n connections to addr, spread evenly over hosts_n hosts (sockets; connection
 * i on host i * hosts_n / n), connected with at most CONNECT_PENDING handshakes open at a time.
 * Fills s (hosts, n) and returns the peer of every connection; s->connects says how many
 * connected before the deadline. */
static ENetPeer **connect_spread(Sweep *s, ENetAddress *addr, size_t n, size_t hosts_n,
                                 int64_t deadline) {
    if (hosts_n > n) hosts_n = n;
    if (hosts_n < 1) hosts_n = 1;
    size_t *owner = malloc(n * sizeof *owner);
    ENetPeer **peers = calloc(n, sizeof *peers);
    s->hosts = malloc(hosts_n * sizeof *s->hosts);
    s->n = hosts_n;
    if (!owner || !peers || !s->hosts) die("out of memory");
    for (size_t h = 0; h < hosts_n; h++) {
        size_t first = h * n / hosts_n, share = (h + 1) * n / hosts_n - first;
        for (size_t i = first; i < first + share; i++) owner[i] = h;
        s->hosts[h] = make_host(-1, share);
    }
    size_t started = 0;
    s->connects = 0;
    while (s->connects < n && now_us() < deadline) {
        for (; started < n && started - s->connects < CONNECT_PENDING; started++) {
            peers[started] = enet_host_connect(s->hosts[owner[started]], addr, CHANNELS, (enet_uint32)started);
            if (!peers[started]) die("enet_host_connect failed");
        }
        sweep(s, 1000);
    }
    free(owner);
    return peers;
}

static Samples fanin_latency;
static uint64_t fanin_echoes;
static int64_t fanin_origin;

static void fanin_on_receive(ENetEvent *ev) {
    if (ev->packet->dataLength >= 8) {
        int64_t stamp = (int64_t)get_u64(ev->packet->data);
        samples_push(&fanin_latency, now_us() - fanin_origin - stamp);
        fanin_echoes++;
    }
}

/* Scenario 2 spreads the fan-in clients over FANIN_HOSTS client hosts (sockets); 2b gives every
 * client its own host, as separate game clients have. The hosts are swept with a zero timeout
 * each, then a 1 ms sleep. */
#define FANIN_HOSTS 10

static int fanin_clients(const char *port, size_t n, double secs, size_t hosts_n) {
    ENetAddress addr = server_address(port);
    Sweep s = {.on_receive = fanin_on_receive};
    fanin_origin = now_us();
    ENetPeer **peers = connect_spread(&s, &addr, n, hosts_n, now_us() + GRACE_US);
    if (s.connects < n) die("fan-in clients could not all connect");
    uint8_t unreliable[FANIN_UNRELIABLE], reliable[FANIN_RELIABLE];
    memset(unreliable, 0x55, sizeof unreliable);
    memset(reliable, 0xAA, sizeof reliable);
    const int64_t tick = 1000000 / FANIN_TICK_HZ;
    int64_t *next = malloc(n * sizeof *next);
    uint32_t *count = calloc(n, sizeof *count);
    int64_t start = now_us(), end = start + (int64_t)(secs * 1e6);
    uint64_t cpu0 = cpu_ns();
    /* client i sends at start + i * tick / n + k * tick: spread over the tick, as real clients */
    for (size_t i = 0; i < n; i++) next[i] = start + (int64_t)i * tick / (int64_t)n;
    uint64_t sent_u = 0, sent_r = 0;
    for (;;) {
        int64_t t = now_us();
        if (t >= end) break;
        for (size_t i = 0; i < n; i++) {
            while (next[i] <= t && next[i] < end) {
                ENetPacket *p = enet_packet_create(unreliable, sizeof unreliable, 0);
                if (enet_peer_send(peers[i], CHANNEL_UNRELIABLE, p) != 0) enet_packet_destroy(p);
                else sent_u++;
                if (++count[i] % FANIN_RELIABLE_EVERY == 0) {
                    put_u64(reliable, (uint64_t)(now_us() - fanin_origin));
                    p = enet_packet_create(reliable, sizeof reliable, ENET_PACKET_FLAG_RELIABLE);
                    if (enet_peer_send(peers[i], CHANNEL_RELIABLE, p) != 0) enet_packet_destroy(p);
                    else sent_r++;
                }
                next[i] += tick;
            }
        }
        sweep(&s, 1000);
    }
    int64_t wall = now_us() - start;
    uint64_t cpu = cpu_ns() - cpu0;
    /* collect the last echoes, then leave */
    int64_t linger = now_us() + 1000000;
    while (now_us() < linger) sweep(&s, 1000);
    for (size_t i = 0; i < n; i++) enet_peer_disconnect(peers[i], 0);
    int64_t leave = now_us() + 2000000;
    s.disconnects = 0;
    while (s.disconnects < n && now_us() < leave) sweep(&s, 1000);
    qsort(fanin_latency.v, fanin_latency.n, sizeof(int64_t), cmp_i64);
    printf("RESULT sent_unreliable=%llu sent_reliable=%llu echoes=%llu p50_us=%lld p99_us=%lld wall_us=%lld "
           "cpu_ns=%llu hwm_kib=%ld\n",
           (unsigned long long)sent_u, (unsigned long long)sent_r, (unsigned long long)fanin_echoes,
           (long long)percentile(fanin_latency.v, fanin_latency.n, 50),
           (long long)percentile(fanin_latency.v, fanin_latency.n, 99), (long long)wall,
           (unsigned long long)cpu, vm_hwm_kib());
    for (size_t h = 0; h < s.n; h++) enet_host_destroy(s.hosts[h]);
    return 0;
}

/* ---- 3. idle scale ------------------------------------------------------------------------ */

static int idle_server(size_t n, double secs) {
    ENetHost *host = make_host(0, n);
    ENetEvent ev;
    size_t connected = 0;
    int64_t hard = now_us() + 120000000LL, window_start = 0, window_us = (int64_t)(secs * 1e6);
    uint64_t cpu0 = 0, received = 0;
    uint32_t out0 = 0, in0 = 0;
    while (now_us() < hard) {
        if (window_start && now_us() - window_start >= window_us) break;
        if (enet_host_service(host, &ev, 1) <= 0) continue;
        do {
            if (ev.type == ENET_EVENT_TYPE_CONNECT && ++connected == n) {
                window_start = now_us();
                cpu0 = cpu_ns();
                out0 = host->totalSentPackets;
                in0 = host->totalReceivedPackets;
            } else if (ev.type == ENET_EVENT_TYPE_DISCONNECT) {
                connected--;
            } else if (ev.type == ENET_EVENT_TYPE_RECEIVE) {
                received++;
                enet_packet_destroy(ev.packet);
            }
        } while (enet_host_check_events(host, &ev) > 0);
    }
    uint64_t cpu = window_start ? cpu_ns() - cpu0 : 0;
    int64_t wall = window_start ? now_us() - window_start : 0;
    printf("RESULT connected=%zu received=%llu wall_us=%lld cpu_ns=%llu dgrams_out=%u dgrams_in=%u "
           "hwm_kib=%ld\n",
           connected, (unsigned long long)received, (long long)wall, (unsigned long long)cpu,
           host->totalSentPackets - out0, host->totalReceivedPackets - in0, vm_hwm_kib());
    enet_host_destroy(host);
    return 0;
}

/* Sleep after each sweep of an idle client process with many hosts (same as the Rust side). */
#define IDLE_SWEEP_PAUSE_US 20000

static int idle_clients(const char *port, size_t n, double secs, size_t hosts_n) {
    ENetAddress addr = server_address(port);
    Sweep s = {0};
    int64_t t0 = now_us();
    connect_spread(&s, &addr, n, hosts_n, t0 + 60000000LL);
    int64_t connect_us = now_us() - t0;
    /* stay connected and idle (pings only) until the server has measured */
    int64_t start = now_us(), end = start + (int64_t)(secs * 1e6) + 1500000;
    uint64_t sweeps = 0, cpu0 = cpu_ns();
    for (; now_us() < end; sweeps++) sweep(&s, IDLE_SWEEP_PAUSE_US);
    printf("RESULT connected=%zu connect_us=%lld sweeps=%llu wall_us=%lld cpu_ns=%llu hwm_kib=%ld\n",
           s.connects, (long long)connect_us, (unsigned long long)sweeps, (long long)(now_us() - start),
           (unsigned long long)(cpu_ns() - cpu0), vm_hwm_kib());
    for (size_t h = 0; h < s.n; h++) enet_host_destroy(s.hosts[h]);
    return 0;
}

/* ---- 4. latency --------------------------------------------------------------------------- */

#define PING_SIZE 32

static int lat_client(const char *port, double secs) {
    ENetHost *host = make_host(-1, 1);
    ENetAddress addr = server_address(port);
    ENetPeer *peer = enet_host_connect(host, &addr, CHANNELS, 0);
    ENetEvent ev;
    Samples rtt = {0};
    uint8_t ping[PING_SIZE];
    memset(ping, 0x11, sizeof ping);
    int64_t hard = now_us() + (int64_t)(secs * 1e6) + GRACE_US, begin = 0, end = 0, sent_at = 0;
    while (now_us() < hard && !(end && now_us() >= end)) {
        int r = enet_host_service(host, &ev, 1);
        while (r > 0) {
            if (ev.type == ENET_EVENT_TYPE_CONNECT) {
                /* let the handshake's acknowledgements settle, then start */
                begin = now_us() + 200000;
                end = begin + (int64_t)(secs * 1e6);
            } else if (ev.type == ENET_EVENT_TYPE_RECEIVE) {
                samples_push(&rtt, now_us() - sent_at);
                sent_at = 0;
                enet_packet_destroy(ev.packet);
            }
            r = enet_host_check_events(host, &ev);
        }
        if (begin && sent_at == 0 && now_us() >= begin) {
            sent_at = now_us();
            ENetPacket *p = enet_packet_create(ping, sizeof ping, ENET_PACKET_FLAG_RELIABLE);
            if (enet_peer_send(peer, CHANNEL_RELIABLE, p) != 0) die("send failed");
        }
    }
    leave_server(host, peer);
    qsort(rtt.v, rtt.n, sizeof(int64_t), cmp_i64);
    printf("RESULT samples=%zu p50_us=%lld p99_us=%lld hwm_kib=%ld\n", rtt.n,
           (long long)percentile(rtt.v, rtt.n, 50), (long long)percentile(rtt.v, rtt.n, 99),
           vm_hwm_kib());
    enet_host_destroy(host);
    return 0;
}

/* ---- 5. bulk ------------------------------------------------------------------------------ */

static int bulk_server(void) {
    ENetHost *host = make_host(0, 4);
    ENetEvent ev;
    int64_t hard = now_us() + 120000000LL, leave = 0;
    size_t got = 0;
    int ok = 0;
    while (now_us() < hard && !(leave && now_us() >= leave)) {
        if (enet_host_service(host, &ev, 1) <= 0) continue;
        do {
            if (ev.type == ENET_EVENT_TYPE_RECEIVE) {
                got = ev.packet->dataLength;
                ok = got > 0 && ev.packet->data[0] == 0x42 && ev.packet->data[got - 1] == (uint8_t)(got - 1);
                enet_packet_destroy(ev.packet);
                uint8_t done = 1;
                ENetPacket *p = enet_packet_create(&done, 1, ENET_PACKET_FLAG_RELIABLE);
                if (enet_peer_send(ev.peer, CHANNEL_RELIABLE, p) != 0) enet_packet_destroy(p);
            } else if (ev.type == ENET_EVENT_TYPE_DISCONNECT && got) {
                leave = now_us();
            }
        } while (enet_host_check_events(host, &ev) > 0);
        if (got && !leave) leave = now_us() + 2000000;
    }
    printf("RESULT bytes=%zu intact=%d hwm_kib=%ld\n", got, ok, vm_hwm_kib());
    enet_host_destroy(host);
    return 0;
}

static int bulk_client(const char *port, size_t bytes) {
    ENetHost *host = make_host(-1, 1);
    ENetAddress addr = server_address(port);
    ENetPeer *peer = enet_host_connect(host, &addr, CHANNELS, 0);
    ENetEvent ev;
    int64_t hard = now_us() + 120000000LL, sent_at = 0, done_at = 0;
    while (now_us() < hard && !done_at) {
        int r = enet_host_service(host, &ev, 1);
        while (r > 0) {
            if (ev.type == ENET_EVENT_TYPE_CONNECT) {
                ENetPacket *p = enet_packet_create(NULL, bytes, ENET_PACKET_FLAG_RELIABLE);
                for (size_t i = 0; i < bytes; i++) p->data[i] = (uint8_t)i;
                p->data[0] = 0x42;
                sent_at = now_us();
                if (enet_peer_send(peer, CHANNEL_RELIABLE, p) != 0) die("bulk send failed");
            } else if (ev.type == ENET_EVENT_TYPE_RECEIVE) {
                done_at = now_us();
                enet_packet_destroy(ev.packet);
            }
            r = enet_host_check_events(host, &ev);
        }
    }
    leave_server(host, peer);
    printf("RESULT delivered=%d time_us=%lld hwm_kib=%ld\n", done_at != 0,
           (long long)(done_at ? done_at - sent_at : 0), vm_hwm_kib());
    enet_host_destroy(host);
    return 0;
}

/* ---- unreliable packet rate (for the raw-UDP ceiling) -------------------------------------
 * Unsequenced messages: a sequenced unreliable flood turns every 65536th message into a
 * reliable one (ENet's sequence-number upgrade), and once a saturated receiver drops that one,
 * every later message waits behind its retransmission, so the rate would measure loss recovery
 * under overload instead of the message path. */

#define FLOOD_MESSAGE 64
#define FLOOD_BATCH 64

static int flood_server(double secs) {
    Window w = receive_window(secs);
    printf("RESULT messages=%llu wall_us=%lld cpu_ns=%llu hwm_kib=%ld\n",
           (unsigned long long)w.messages, (long long)w.wall, (unsigned long long)w.cpu, vm_hwm_kib());
    return 0;
}

static int flood_client(const char *port, double secs) {
    Feed f = {.fill = 0x3C, .size = FLOOD_MESSAGE, .batch = FLOOD_BATCH, .backlog = UINT64_MAX,
              .flags = ENET_PACKET_FLAG_UNSEQUENCED, .channel = CHANNEL_UNRELIABLE, .wait_ms = 0};
    return stream_client(port, secs, f);
}

/* ---- raw UDP ceiling, batched --------------------------------------------------------------- */

#define UDP_BATCH 64
#define UDP_SIZE 64

static int udp_sink(double secs) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int rcvbuf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) die("bind failed");
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    printf("PORT %u\n", ntohs(a.sin_port));
    fflush(stdout);
    struct timeval tv = {.tv_sec = 0, .tv_usec = 100000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    static uint8_t bufs[UDP_BATCH][2048];
    struct mmsghdr msgs[UDP_BATCH];
    struct iovec iov[UDP_BATCH];
    for (int i = 0; i < UDP_BATCH; i++) {
        iov[i] = (struct iovec){bufs[i], sizeof bufs[i]};
        msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
    }
    int64_t hard = now_us() + (int64_t)(secs * 1e6) + GRACE_US, start = 0;
    uint64_t count = 0, cpu0 = 0;
    while (now_us() < hard) {
        if (start && now_us() - start >= (int64_t)(secs * 1e6)) break;
        int n = recvmmsg(fd, msgs, UDP_BATCH, MSG_WAITFORONE, NULL);
        if (n <= 0) continue;
        if (!start) {
            start = now_us();
            cpu0 = cpu_ns();
            n--;
        }
        count += (uint64_t)n;
    }
    printf("RESULT datagrams=%llu wall_us=%lld cpu_ns=%llu\n", (unsigned long long)count,
           (long long)(start ? now_us() - start : 0), (unsigned long long)(start ? cpu_ns() - cpu0 : 0));
    return 0;
}

static int udp_source(const char *port, double secs) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&to, sizeof to) != 0) die("connect failed");
    static uint8_t payload[UDP_SIZE];
    struct mmsghdr msgs[UDP_BATCH];
    struct iovec iov = {payload, sizeof payload};
    for (int i = 0; i < UDP_BATCH; i++)
        msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov, .msg_iovlen = 1}};
    /* the sink's window starts at its first datagram; send a little longer than it measures */
    int64_t end = now_us() + (int64_t)(secs * 1e6) + 300000;
    uint64_t sent = 0;
    while (now_us() < end) {
        int n = sendmmsg(fd, msgs, UDP_BATCH, 0);
        if (n > 0) sent += (uint64_t)n;
    }
    printf("RESULT sent=%llu\n", (unsigned long long)sent);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */

/* N hosts without peers, each serviced with a zero timeout in turn, for SECS: what a service
 * call that finds nothing to do costs (one recvmsg that says EAGAIN, plus the library's own
 * work). No sleep between sweeps: the loop measures the calls only. */
static int empty_service(size_t n, double secs) {
    ENetAddress address;
    enet_address_set_host_ip(&address, "127.0.0.1");
    address.port = 0;
    ENetHost **hosts = calloc(n, sizeof *hosts);
    if (!hosts) die("out of memory");
    for (size_t i = 0; i < n; i++) {
        hosts[i] = enet_host_create(&address, 1, CHANNELS, 0, 0);
        if (!hosts[i]) die("enet_host_create failed");
    }
    ENetEvent event;
    unsigned long long services = 0;
    int64_t start = now_us(), end = start + (int64_t)(secs * 1e6);
    uint64_t cpu0 = cpu_ns();
    while (now_us() < end) {
        for (size_t i = 0; i < n; i++) {
            if (enet_host_service(hosts[i], &event, 0) != 0) die("unexpected event");
        }
        services += n;
    }
    uint64_t cpu = cpu_ns() - cpu0;
    printf("RESULT services=%llu wall_us=%lld cpu_ns=%llu\n", services, (long long)(now_us() - start),
           (unsigned long long)cpu);
    for (size_t i = 0; i < n; i++) enet_host_destroy(hosts[i]);
    free(hosts);
    return 0;
}

/* Flood scenario: connect once (data = a Godot-like client id), report how long the handshake
 * took (-1 if it failed or did not finish within `timeout` s), then leave at once. */
static int join(const char *port, double timeout) {
    ENetHost *host = make_host(-1, 1);
    ENetAddress addr = server_address(port);
    int64_t start = now_us(), hard = start + (int64_t)(timeout * 1e6);
    ENetPeer *peer = enet_host_connect(host, &addr, CHANNELS, 0x1234567);
    ENetEvent ev;
    long long took = -1;
    int done = 0;
    while (!done && now_us() < hard) {
        int r = enet_host_service(host, &ev, 1);
        while (r > 0) {
            if (ev.type == ENET_EVENT_TYPE_CONNECT) {
                took = (now_us() - start) / 1000;
                done = 1;
            } else if (ev.type == ENET_EVENT_TYPE_DISCONNECT) {
                done = 1;
            } else if (ev.type == ENET_EVENT_TYPE_RECEIVE) {
                enet_packet_destroy(ev.packet);
            }
            r = enet_host_check_events(host, &ev);
        }
    }
    if (took >= 0) {
        enet_peer_disconnect_now(peer, 0);
        enet_host_flush(host);
    }
    printf("RESULT join_ms=%lld\n", took);
    enet_host_destroy(host);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) die("usage: enet_bench ROLE ARGS... (see the comment at the top)");
    const char *role = argv[1];
#define ARG(i) (argc > (i) ? argv[i] : (die("missing argument"), ""))
    if (!strncmp(role, "udp-", 4)) {
        if (!strcmp(role, "udp-sink")) return udp_sink(atof(ARG(2)));
        if (!strcmp(role, "udp-source")) return udp_source(ARG(2), atof(ARG(3)));
        die("unknown role");
    }
    if (enet_initialize() != 0) die("enet_initialize failed");
    atexit(enet_deinitialize);
    if (!strcmp(role, "tput-server")) return tput_server(atof(ARG(2)));
    /* the variants' extra trailing argument; without it, the base scenario's value */
#define OPT(i, dflt) (argc > (i) ? (size_t)atol(argv[i]) : (size_t)(dflt))
    if (!strcmp(role, "tput-client")) return tput_client(ARG(2), atof(ARG(3)), OPT(4, TPUT_BACKLOG));
    if (!strcmp(role, "fanin-server")) return echo_server((size_t)atol(ARG(2)), atof(ARG(3)));
    if (!strcmp(role, "fanin-clients")) return fanin_clients(ARG(2), (size_t)atol(ARG(3)), atof(ARG(4)), OPT(5, FANIN_HOSTS));
    if (!strcmp(role, "idle-server")) return idle_server((size_t)atol(ARG(2)), atof(ARG(3)));
    if (!strcmp(role, "idle-clients")) return idle_clients(ARG(2), (size_t)atol(ARG(3)), atof(ARG(4)), OPT(5, 1));
    if (!strcmp(role, "echo-server")) return echo_server(1, 0);
    if (!strcmp(role, "lat-client")) return lat_client(ARG(2), atof(ARG(3)));
    if (!strcmp(role, "bulk-server")) return bulk_server();
    if (!strcmp(role, "bulk-client")) return bulk_client(ARG(2), (size_t)atol(ARG(3)));
    if (!strcmp(role, "flood-server")) return flood_server(atof(ARG(2)));
    if (!strcmp(role, "flood-client")) return flood_client(ARG(2), atof(ARG(3)));
    if (!strcmp(role, "join")) return join(ARG(2), atof(ARG(3)));
    if (!strcmp(role, "empty-service")) return empty_service((size_t)atol(ARG(2)), atof(ARG(3)));
    die("unknown role");
    return 2;
}
