/*
 * A freestanding program that learns the board from the device tree in x0,
 * as a kernel does: memory, the console UART (through /chosen/stdout-path),
 * the PSCI conduit, bootargs and the initrd. It prints them on the UART it
 * found, then powers the board off with PSCI SYSTEM_OFF over that conduit.
 */
typedef unsigned long u64;
typedef unsigned int u32;

#define FDT_MAGIC 0xd00dfeed
#define FDT_BEGIN_NODE 1
#define FDT_END_NODE 2
#define FDT_PROP 3
#define FDT_NOP 4
#define FDT_END 9
#define PSCI_SYSTEM_OFF 0x84000008
#define MAX_DEPTH 8

u64 psci_smc(u64 fid);
u64 psci_hvc(u64 fid);
u64 current_el(void);

static volatile u32 *uart;

static u32 be32(const void *p)
{
    const unsigned char *b = p;
    return (u32)b[0] << 24 | (u32)b[1] << 16 | (u32)b[2] << 8 | b[3];
}

static u64 cells(const void *p, u32 n)
{
    u64 v = 0;
    for (u32 i = 0; i < n; i++)
        v = v << 32 | be32((const char *)p + 4 * i);
    return v;
}

static int streq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

/* "memory@40000000" matches "memory"; a name matches itself */
static int named(const char *node, const char *base)
{
    while (*base && *node == *base)
        node++, base++;
    return !*base && (!*node || *node == '@');
}

static void putc_(char c)
{
    while (uart[0x18 / 4] & (1 << 5)) /* FR.TXFF */
        ;
    uart[0] = c;
}

static void puts_(const char *s)
{
    while (*s)
        putc_(*s++);
}

static void puthex(u64 v)
{
    puts_("0x");
    int started = 0;
    for (int shift = 60; shift >= 0; shift -= 4) {
        int d = (v >> shift) & 0xf;
        if (d || started || shift == 0) {
            putc_("0123456789abcdef"[d]);
            started = 1;
        }
    }
}

struct found {
    u64 mem_base, mem_size, initrd_start, initrd_end, uart_base;
    const char *stdout_path, *bootargs, *method;
    int have_initrd;
};

/* the full path of the node being walked, "/name/name", for matching stdout-path */
static char path[256];
static int path_end[MAX_DEPTH + 1];

static void walk(const char *fdt, struct found *f, int want_uart)
{
    const char *st = fdt + be32(fdt + 8);
    const char *strings = fdt + be32(fdt + 12);
    u32 acells = 2, scells = 2;
    int depth = -1;
    const char *names[MAX_DEPTH];
    const char *p = st;

    for (;;) {
        u32 tok = be32(p);
        p += 4;
        if (tok == FDT_BEGIN_NODE) {
            const char *name = p;
            int n = 0;
            while (p[n])
                n++;
            p += (n + 4) & ~3;
            depth++;
            if (depth < MAX_DEPTH) {
                names[depth] = name;
                int at = depth ? path_end[depth] : 0;
                if (depth && at < 250) {
                    path[at++] = '/';
                    for (int i = 0; i < n && at < 255; i++)
                        path[at++] = name[i];
                }
                path[at] = 0;
                path_end[depth + 1] = at;
            }
        } else if (tok == FDT_END_NODE) {
            depth--;
        } else if (tok == FDT_PROP) {
            u32 len = be32(p);
            const char *pname = strings + be32(p + 4);
            const char *val = p + 8;
            p += 8 + ((len + 3) & ~3);
            if (depth == 0 && streq(pname, "#address-cells"))
                acells = be32(val);
            else if (depth == 0 && streq(pname, "#size-cells"))
                scells = be32(val);
            else if (depth == 1 && named(names[1], "memory") && streq(pname, "reg")) {
                f->mem_base = cells(val, acells);
                f->mem_size = cells(val + 4 * acells, scells);
            } else if (depth == 1 && named(names[1], "chosen")) {
                if (streq(pname, "stdout-path"))
                    f->stdout_path = val;
                else if (streq(pname, "bootargs"))
                    f->bootargs = val;
                else if (streq(pname, "linux,initrd-start"))
                    f->initrd_start = cells(val, len / 4), f->have_initrd = 1;
                else if (streq(pname, "linux,initrd-end"))
                    f->initrd_end = cells(val, len / 4);
            } else if (depth == 1 && named(names[1], "psci") && streq(pname, "method")) {
                f->method = val;
            } else if (want_uart && depth == 1 && streq(pname, "reg") && streq(path, f->stdout_path)) {
                f->uart_base = cells(val, acells);
            }
        } else if (tok == FDT_NOP) {
            continue;
        } else {
            break;
        }
    }
}

u64 main(const char *fdt, u64 x1, u64 x2, u64 x3)
{
    struct found f = {0};
    if (be32(fdt) != FDT_MAGIC)
        return 1;
    walk(fdt, &f, 0);
    if (!f.stdout_path)
        return 2;
    walk(fdt, &f, 1); /* now that stdout-path is known */
    if (!f.uart_base)
        return 3;
    uart = (volatile u32 *)f.uart_base;

    puts_("dtb ");
    puthex((u64)fdt);
    puts_("\nregs ");
    puthex(x1);
    putc_(' ');
    puthex(x2);
    putc_(' ');
    puthex(x3);
    puts_("\nel ");
    puthex(current_el());
    puts_("\nmemory ");
    puthex(f.mem_base);
    putc_(' ');
    puthex(f.mem_size);
    puts_("\nuart ");
    puthex(f.uart_base);
    puts_("\npsci ");
    puts_(f.method ? f.method : "none");
    puts_("\nbootargs ");
    puts_(f.bootargs ? f.bootargs : "");
    if (f.have_initrd) {
        puts_("\ninitrd ");
        puthex(f.initrd_start);
        putc_(' ');
        puthex(f.initrd_end);
        puts_("\ninitrd data ");
        for (const char *c = (const char *)f.initrd_start; c < (const char *)f.initrd_end; c++)
            putc_(*c);
    }
    puts_("\n");
    if (f.method && streq(f.method, "hvc"))
        psci_hvc(PSCI_SYSTEM_OFF);
    else if (f.method && streq(f.method, "smc"))
        psci_smc(PSCI_SYSTEM_OFF);
    return 4;
}
