/*
 * enet_peer: a C ENet host driven by a line protocol on stdin/stdout, so that the Rust interop
 * tests can run the reference library as a separate process (no FFI in the tests).
 *
 * Every command gets exactly one reply line, "ok ..." or "error <message>". Events are printed as
 * they happen, one per line, and may arrive between replies:
 *
 *   connect <peer> <data>
 *   receive <peer> <channel> <len> <fnv1a64 as 16 hex digits> <first <=32 bytes as hex, or -> <flags>
 *   disconnect <peer> <data>
 *
 * <peer> is the slot index of the peer in the host. Commands:
 *
 *   checksum on|off                 CRC-32 checksums (applies now and to hosts created later)
 *   compress range|off              the built-in range coder (likewise)
 *   server <port> <peers> <channels> [bind-ip]   -> ok server <bound port>   (bind-ip: 127.0.0.1)
 *   client <host> <port> <channels> <data>       -> ok client <peer>
 *   send <peer> <channel> <flags> <payload>      flags: reliable|unreliable|unsequenced|
 *                                                 unreliable_fragment|<number>
 *   broadcast <channel> <flags> <payload>        payload: hex, "-" (empty) or rep:<hex byte>:<len>
 *   disconnect <peer> <data> | disconnect_now [<peer> <data>] | disconnect_later [<peer> <data>]
 *   ping <peer> | timeout <peer> <limit> <min> <max> | throttle <peer> <interval> <acc> <dec>
 *   state <peer>                    -> ok state <peer> <ENetPeerState number> <rtt ms>
 *   service <ms>                    service for <ms>, printing events, then reply
 *   auto on|off                     service continuously between commands (default off)
 *   flush
 *   rc_compress <hex>               -> ok rc_compress <hex or -> (C range coder, one buffer)
 *   rc_decompress <hex> <limit>     -> ok rc_decompress <hex or ->
 *   crc32 <hex>                     -> ok crc32 <8 hex digits>
 *   quit
 */
#define _POSIX_C_SOURCE 200809L

#include <enet/enet.h>

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static ENetHost *host;
static int use_checksum;
static int use_range_coder;
static int auto_service;

__attribute__((format(printf, 1, 2))) static void reply(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);
    putchar('\n');
    fflush(stdout);
}

static uint64_t fnv1a64(const uint8_t *data, size_t len)
{
    uint64_t hash = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        hash ^= data[i];
        hash *= 0x100000001b3ULL;
    }
    return hash;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Parse a payload argument into a freshly allocated buffer; returns 0 on success. */
static int parse_payload(const char *text, uint8_t **out, size_t *out_len)
{
    if (strcmp(text, "-") == 0) {
        *out = malloc(1);
        *out_len = 0;
        return *out ? 0 : -1;
    }
    if (strncmp(text, "rep:", 4) == 0) {
        unsigned int byte;
        unsigned long len;
        if (sscanf(text + 4, "%x:%lu", &byte, &len) != 2 || byte > 0xff) return -1;
        *out = malloc(len ? len : 1);
        if (!*out) return -1;
        memset(*out, (int)byte, len);
        *out_len = len;
        return 0;
    }
    size_t n = strlen(text);
    if (n % 2 != 0) return -1;
    *out = malloc(n / 2 ? n / 2 : 1);
    if (!*out) return -1;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hex_value(text[2 * i]), lo = hex_value(text[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(*out);
            return -1;
        }
        (*out)[i] = (uint8_t)(hi << 4 | lo);
    }
    *out_len = n / 2;
    return 0;
}

static void print_hex(const uint8_t *data, size_t len)
{
    if (len == 0) {
        fputs("-", stdout);
        return;
    }
    for (size_t i = 0; i < len; i++) printf("%02x", data[i]);
}

static int parse_flags(const char *text, enet_uint32 *flags)
{
    if (strcmp(text, "reliable") == 0) *flags = ENET_PACKET_FLAG_RELIABLE;
    else if (strcmp(text, "unreliable") == 0) *flags = 0;
    else if (strcmp(text, "unsequenced") == 0) *flags = ENET_PACKET_FLAG_UNSEQUENCED;
    else if (strcmp(text, "unreliable_fragment") == 0) *flags = ENET_PACKET_FLAG_UNRELIABLE_FRAGMENT;
    else {
        char *end;
        unsigned long v = strtoul(text, &end, 0);
        if (*end != '\0') return -1;
        *flags = (enet_uint32)v;
    }
    return 0;
}

static void apply_options(void)
{
    if (!host) return;
    host->checksum = use_checksum ? enet_crc32 : NULL;
    if (use_range_coder) enet_host_compress_with_range_coder(host);
    else enet_host_compress(host, NULL);
}

static void print_event(const ENetEvent *event)
{
    unsigned peer = event->peer ? (unsigned)(event->peer - host->peers) : 0xffffu;
    switch (event->type) {
    case ENET_EVENT_TYPE_CONNECT:
        printf("connect %u %u\n", peer, (unsigned)event->data);
        break;
    case ENET_EVENT_TYPE_DISCONNECT:
        printf("disconnect %u %u\n", peer, (unsigned)event->data);
        break;
    case ENET_EVENT_TYPE_RECEIVE: {
        const ENetPacket *p = event->packet;
        printf("receive %u %u %zu %016llx ", peer, (unsigned)event->channelID, p->dataLength,
               (unsigned long long)fnv1a64(p->data, p->dataLength));
        print_hex(p->data, p->dataLength < 32 ? p->dataLength : 32);
        printf(" %u\n", (unsigned)p->flags);
        enet_packet_destroy(event->packet);
        break;
    }
    default:
        break;
    }
    fflush(stdout);
}

/* One enet_host_service call; returns its result after printing any event. */
static int service_once(enet_uint32 timeout)
{
    ENetEvent event;
    int r = enet_host_service(host, &event, timeout);
    if (r > 0) print_event(&event);
    return r;
}

static ENetPeer *peer_arg(const char *text)
{
    if (!host || !text) return NULL;
    char *end;
    unsigned long index = strtoul(text, &end, 10);
    if (*end != '\0' || index >= host->peerCount) return NULL;
    return &host->peers[index];
}

static int create_host(const ENetAddress *address, size_t peers, size_t channels)
{
    if (host) enet_host_destroy(host);
    host = enet_host_create(address, peers, channels, 0, 0);
    if (!host) return -1;
    apply_options();
    return 0;
}

/* The commands on one peer (argv[1]): ping, state, timeout <limit> <min> <max> and
 * throttle <interval> <acceleration> <deceleration>. */
static void peer_command(const char *cmd, char **argv)
{
    ENetPeer *peer = peer_arg(argv[1]);
    if (!peer) {
        reply("error no such peer");
        return;
    }
    if (strcmp(cmd, "state") == 0) {
        reply("ok state %s %d %u", argv[1], (int)peer->state, (unsigned)peer->roundTripTime);
        return;
    }
    if (strcmp(cmd, "ping") == 0) {
        enet_peer_ping(peer);
    } else {
        enet_uint32 a = (enet_uint32)atoi(argv[2]), b = (enet_uint32)atoi(argv[3]),
                    c = (enet_uint32)atoi(argv[4]);
        if (strcmp(cmd, "timeout") == 0) enet_peer_timeout(peer, a, b, c);
        else enet_peer_throttle_configure(peer, a, b, c);
    }
    reply("ok %s", cmd);
}

/* The oracle commands on one payload (argv[1]): the C range coder (rc_compress, and
 * rc_decompress <limit>) and crc32. */
static void payload_command(const char *cmd, char **argv)
{
    uint8_t *data;
    size_t len;
    if (parse_payload(argv[1], &data, &len) != 0) {
        reply("error bad payload");
        return;
    }
    if (strcmp(cmd, "crc32") == 0) {
        ENetBuffer buffer = {.data = data, .dataLength = len};
        /* enet_crc32 returns the value in network byte order. */
        enet_uint32 crc = ENET_NET_TO_HOST_32(enet_crc32(&buffer, 1));
        reply("ok crc32 %08x", (unsigned)crc);
    } else {
        int compress = strcmp(cmd, "rc_compress") == 0;
        size_t limit = compress ? len * 2 + 64 : (size_t)atoi(argv[2]);
        uint8_t *out = malloc(limit ? limit : 1);
        void *coder = enet_range_coder_create();
        ENetBuffer buffer = {.data = data, .dataLength = len};
        size_t n = compress ? enet_range_coder_compress(coder, &buffer, 1, len, out, limit)
                            : enet_range_coder_decompress(coder, data, len, out, limit);
        printf("ok %s ", cmd);
        print_hex(out, n);
        putchar('\n');
        fflush(stdout);
        enet_range_coder_destroy(coder);
        free(out);
    }
    free(data);
}

/* Handle one command line; returns 0 to continue, 1 to quit. */
static int handle(char *line)
{
    char *argv[8] = {0};
    int argc = 0;
    for (char *tok = strtok(line, " \t\r"); tok && argc < 8; tok = strtok(NULL, " \t\r"))
        argv[argc++] = tok;
    if (argc == 0) return 0;
    const char *cmd = argv[0];

    if (strcmp(cmd, "quit") == 0) {
        reply("ok quit");
        return 1;
    } else if (strcmp(cmd, "checksum") == 0 && argc == 2) {
        use_checksum = strcmp(argv[1], "on") == 0;
        apply_options();
        reply("ok checksum");
    } else if (strcmp(cmd, "compress") == 0 && argc == 2) {
        use_range_coder = strcmp(argv[1], "range") == 0;
        apply_options();
        reply("ok compress");
    } else if (strcmp(cmd, "auto") == 0 && argc == 2) {
        auto_service = strcmp(argv[1], "on") == 0;
        reply("ok auto");
    } else if (strcmp(cmd, "server") == 0 && argc >= 4) {
        ENetAddress address;
        enet_address_set_host_ip(&address, argc >= 5 ? argv[4] : "127.0.0.1");
        address.port = (enet_uint16)atoi(argv[1]);
        if (create_host(&address, (size_t)atoi(argv[2]), (size_t)atoi(argv[3])) != 0) {
            reply("error cannot create server host");
            return 0;
        }
        ENetAddress bound;
        if (enet_socket_get_address(host->socket, &bound) != 0) bound.port = address.port;
        reply("ok server %u", (unsigned)bound.port);
    } else if (strcmp(cmd, "client") == 0 && argc == 5) {
        if (create_host(NULL, 1, (size_t)atoi(argv[3])) != 0) {
            reply("error cannot create client host");
            return 0;
        }
        ENetAddress address;
        if (enet_address_set_host(&address, argv[1]) != 0) {
            reply("error cannot resolve %s", argv[1]);
            return 0;
        }
        address.port = (enet_uint16)atoi(argv[2]);
        ENetPeer *peer = enet_host_connect(host, &address, (size_t)atoi(argv[3]),
                                           (enet_uint32)strtoul(argv[4], NULL, 0));
        if (!peer) {
            reply("error connect failed");
            return 0;
        }
        reply("ok client %u", (unsigned)(peer - host->peers));
    } else if ((strcmp(cmd, "send") == 0 && argc == 5) || (strcmp(cmd, "broadcast") == 0 && argc == 4)) {
        int is_send = cmd[0] == 's';
        ENetPeer *peer = is_send ? peer_arg(argv[1]) : NULL;
        enet_uint32 flags;
        uint8_t *data;
        size_t len;
        if (!host || (is_send && !peer)) {
            reply("error no such peer");
            return 0;
        }
        if (parse_flags(argv[is_send + 2], &flags) != 0 || parse_payload(argv[is_send + 3], &data, &len) != 0) {
            reply("error bad flags or payload");
            return 0;
        }
        ENetPacket *packet = enet_packet_create(data, len, flags);
        free(data);
        enet_uint8 channel = (enet_uint8)atoi(argv[is_send + 1]);
        if (is_send) {
            if (enet_peer_send(peer, channel, packet) != 0) {
                enet_packet_destroy(packet);
                reply("error send failed");
                return 0;
            }
        } else {
            enet_host_broadcast(host, channel, packet);
        }
        reply("ok %s", cmd);
    } else if (strcmp(cmd, "disconnect") == 0 || strcmp(cmd, "disconnect_now") == 0 ||
               strcmp(cmd, "disconnect_later") == 0) {
        ENetPeer *peer = peer_arg(argc >= 2 ? argv[1] : "0");
        enet_uint32 data = argc >= 3 ? (enet_uint32)strtoul(argv[2], NULL, 0) : 0;
        if (!peer) {
            reply("error no such peer");
            return 0;
        }
        if (strcmp(cmd, "disconnect") == 0) enet_peer_disconnect(peer, data);
        else if (strcmp(cmd, "disconnect_now") == 0) enet_peer_disconnect_now(peer, data);
        else enet_peer_disconnect_later(peer, data);
        reply("ok %s", cmd);
    } else if (((strcmp(cmd, "ping") == 0 || strcmp(cmd, "state") == 0) && argc == 2) ||
               ((strcmp(cmd, "timeout") == 0 || strcmp(cmd, "throttle") == 0) && argc == 5)) {
        peer_command(cmd, argv);
    } else if (strcmp(cmd, "service") == 0 && argc == 2) {
        if (!host) {
            reply("error no host");
            return 0;
        }
        long long deadline = now_ms() + atoi(argv[1]);
        for (;;) {
            long long left = deadline - now_ms();
            int r = service_once(left > 0 ? (enet_uint32)left : 0);
            if (r < 0) {
                reply("error service failed");
                return 0;
            }
            if (r == 0 && left <= 0) break;
            if (r == 0 && now_ms() >= deadline) break;
        }
        reply("ok service");
    } else if (strcmp(cmd, "flush") == 0) {
        if (host) enet_host_flush(host);
        reply("ok flush");
    } else if (((strcmp(cmd, "rc_compress") == 0 || strcmp(cmd, "crc32") == 0) && argc == 2) ||
               (strcmp(cmd, "rc_decompress") == 0 && argc == 3)) {
        payload_command(cmd, argv);
    } else {
        reply("error unknown command %s", cmd);
    }
    return 0;
}

int main(void)
{
    if (enet_initialize() != 0) {
        reply("error enet_initialize failed");
        return 1;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    if (!buf) return 1;
    reply("ready");
    for (;;) {
        char *nl;
        while ((nl = memchr(buf, '\n', len)) != NULL) {
            *nl = '\0';
            size_t used = (size_t)(nl - buf) + 1;
            int quit = handle(buf);
            memmove(buf, buf + used, len - used);
            len -= used;
            if (quit) goto done;
        }
        if (auto_service && host) {
            /* Drain events, then sleep on stdin and the socket together; the short poll
               timeout keeps ENet's retransmission and ping timers running. */
            while (service_once(0) > 0) {
            }
            struct pollfd fds[2] = {{.fd = 0, .events = POLLIN}, {.fd = host->socket, .events = POLLIN}};
            if (poll(fds, 2, 2) < 0 && errno != EINTR) break;
            if (!(fds[0].revents & (POLLIN | POLLHUP))) continue;
        }
        if (len == cap) {
            cap *= 2;
            char *bigger = realloc(buf, cap);
            if (!bigger) break;
            buf = bigger;
        }
        ssize_t n = read(0, buf + len, cap - len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        len += (size_t)n;
    }
done:
    if (host) enet_host_destroy(host);
    enet_deinitialize();
    free(buf);
    return 0;
}
