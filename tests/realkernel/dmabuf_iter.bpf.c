// SPDX-License-Identifier: GPL-2.0
/*
 * droidtrack realkernel: a BPF dma-buf iterator printing what AOSP's pinned one prints, so the
 * collector can be tested against a real 6.16+ kernel. Pinned by init.sh (bpftool iter pin) at
 * /sys/fs/bpf/dmabuf/prog_dmabufIter_iter_dmabuf; reading that file runs it once per buffer:
 *
 *     <inode>\n<size>\n<name, empty when unnamed, a newline in it printed as a space>\n<exporter>\n
 *
 * No vmlinux.h: the few kernel types it reads are declared below with only the fields used,
 * marked preserve_access_index, so clang records CO-RE relocations by field name and libbpf
 * resolves them against the running kernel's BTF (/sys/kernel/btf/vmlinux) when it loads it.
 *
 * Built by vm.py: clang -O2 -g -target bpf -c dmabuf_iter.bpf.c (Debian's clang and libbpf-dev).
 */
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define NAME_MAX_BYTES 32          /* DMA_BUF_NAME_LEN, the NUL included */

struct inode { unsigned long i_ino; } __attribute__((preserve_access_index));
struct file { struct inode *f_inode; } __attribute__((preserve_access_index));
struct seq_file;
struct bpf_iter_meta { struct seq_file *seq; } __attribute__((preserve_access_index));
struct dma_buf {
	__kernel_size_t size;
	struct file *file;
	const char *exp_name;
	const char *name;
} __attribute__((preserve_access_index));
struct bpf_iter__dmabuf {
	struct bpf_iter_meta *meta;
	struct dma_buf *dmabuf;
} __attribute__((preserve_access_index));

char LICENSE[] SEC("license") = "GPL";

SEC("iter/dmabuf")
int dt_dmabuf_lines(struct bpf_iter__dmabuf *ctx)
{
	struct dma_buf *buf = ctx->dmabuf;
	struct seq_file *seq = ctx->meta->seq;
	char name[NAME_MAX_BYTES] = {};
	char exporter[NAME_MAX_BYTES * 2] = {};
	const char *pname = 0, *pexp = 0;
	unsigned long ino = 0;
	__u64 size = 0;
	int i;

	if (!buf)                  /* the end of the walk */
		return 0;
	ino = BPF_CORE_READ(buf, file, f_inode, i_ino);
	size = BPF_CORE_READ(buf, size);
	pname = BPF_CORE_READ(buf, name);
	pexp = BPF_CORE_READ(buf, exp_name);
	if (pname)
		bpf_probe_read_kernel_str(name, sizeof(name), pname);
	if (pexp)
		bpf_probe_read_kernel_str(exporter, sizeof(exporter), pexp);
	/* one line per field: a newline in the (user-chosen) name must not start another */
	for (i = 0; i < NAME_MAX_BYTES; i++) {
		if (!name[i])
			break;
		if (name[i] == '\n')
			name[i] = ' ';
	}
	BPF_SEQ_PRINTF(seq, "%lu\n%llu\n%s\n", ino, size, name);
	BPF_SEQ_PRINTF(seq, "%s\n", exporter);
	return 0;
}
