/* The floor for the upload benchmark (`bench.upload --floor`): the same upload with no Python and no HTTP.

    upload_floor SOURCE TARGET CHUNK

A receiver process and a sender process on one loopback TCP connection. The sender sends SOURCE in requests
of CHUNK bytes (`sendfile`, as the bench's tus client does); the receiver reads each request from the socket
into a 256 KiB buffer (asyncio's read size), writes it to TARGET with `write`, `fsync`s TARGET once the
request's last byte is written and only then answers with one byte; the sender sends the next request only
after that answer (tus is sequential). With CHUNK at least the size of SOURCE it is one stream and one fsync
at the end. Prints the seconds from the first byte sent to the last answer and the receiver's CPU seconds.
What a server written in C, with nothing else to do, gets from this machine's loopback, page cache and disk.
*/
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BUFFER (256 * 1024)

static void die(const char *what) {
    perror(what);
    exit(1);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void receive(int listener, const char *target, off_t size, off_t chunk) {
    int sock = accept(listener, NULL, NULL);
    if (sock < 0) die("accept");
    int out = open(target, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (out < 0) die(target);
    char *buffer = malloc(BUFFER);
    for (off_t done = 0; done < size;) {
        off_t end = done + chunk < size ? done + chunk : size;
        while (done < end) {
            size_t want = end - done < BUFFER ? (size_t)(end - done) : BUFFER;
            ssize_t got = recv(sock, buffer, want, 0);
            if (got <= 0) die("recv");
            for (ssize_t put = 0; put < got;) {
                ssize_t n = write(out, buffer + put, got - put);
                if (n < 0) die("write");
                put += n;
            }
            done += got;
        }
        if (fsync(out) < 0) die("fsync");
        if (send(sock, "k", 1, 0) != 1) die("send");
    }
    close(out);
    close(sock);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s SOURCE TARGET CHUNK\n", argv[0]);
        return 2;
    }
    int in = open(argv[1], O_RDONLY);
    if (in < 0) die(argv[1]);
    struct stat st;
    fstat(in, &st);
    off_t size = st.st_size, chunk = atoll(argv[3]);
    if (chunk <= 0) chunk = size;

    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (bind(listener, (struct sockaddr *)&address, sizeof address) < 0) die("bind");
    if (listen(listener, 1) < 0) die("listen");
    getsockname(listener, (struct sockaddr *)&address, &length);

    pid_t child = fork();
    if (child == 0) {
        receive(listener, argv[2], size, chunk);
        return 0;
    }
    int sock = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(sock, (struct sockaddr *)&address, sizeof address) < 0) die("connect");
    double started = now();
    for (off_t offset = 0; offset < size;) {
        off_t end = offset + chunk < size ? offset + chunk : size;
        while (offset < end) {
            ssize_t n = sendfile(sock, in, &offset, end - offset);
            if (n <= 0) die("sendfile");
        }
        char answer;
        if (recv(sock, &answer, 1, MSG_WAITALL) != 1) die("answer");
    }
    double elapsed = now() - started;
    int status;
    struct rusage usage;
    if (wait4(child, &status, 0, &usage) < 0) die("wait4");
    double cpu = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
    printf("%.4f %.3f\n", elapsed, cpu);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
