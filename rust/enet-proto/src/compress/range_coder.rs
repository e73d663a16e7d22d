//! ENet's built-in adaptive range coder (`enet_range_coder_*`), protocol description section 12.2.
//!
//! An order-2 PPM model without exclusion drives a carry-less 32-bit range coder that emits whole
//! bytes. The model lives in a fixed arena of 4096 nodes inside [`RangeCoder`] and is rebuilt at
//! the start of every call, so compression is stateless per datagram, exactly as in ENet.
//!
//! The arithmetic keeps ENet's widths (`u8` counts, `u16` frequencies, `u32` coder state) and wraps
//! where C's unsigned arithmetic wraps, so the output is byte-identical to the C coder. Where the C
//! decoder would divide by zero, overrun its arena or loop forever on corrupted input, this port
//! fails the call instead.

use super::{Compressor, Sink};

/// A byte is final once the top 8 bits of `low` and `low + range` agree.
const RANGE_TOP: u32 = 1 << 24;
/// Renormalise when the range shrinks below this (`ENET_RANGE_CODER_BOTTOM`).
const RANGE_BOTTOM: u32 = 1 << 16;

/// Root-context frequency increment per coded symbol (`ENET_CONTEXT_SYMBOL_DELTA`).
const CONTEXT_SYMBOL_DELTA: u16 = 3;
/// Every byte has at least this frequency in the root context (`ENET_CONTEXT_SYMBOL_MINIMUM`).
const CONTEXT_SYMBOL_MINIMUM: u16 = 1;
/// Initial escape frequency of the root context (`ENET_CONTEXT_ESCAPE_MINIMUM`).
const CONTEXT_ESCAPE_MINIMUM: u16 = 1;
/// Highest context order that codes symbols (`ENET_SUBCONTEXT_ORDER`).
const SUBCONTEXT_ORDER: u32 = 2;
/// Subcontext frequency increment per coded symbol (`ENET_SUBCONTEXT_SYMBOL_DELTA`).
const SUBCONTEXT_SYMBOL_DELTA: u16 = 2;
/// Subcontext escape increment per miss (`ENET_SUBCONTEXT_ESCAPE_DELTA`).
const SUBCONTEXT_ESCAPE_DELTA: u16 = 5;

/// Nodes in the model arena (`sizeof symbols / sizeof ENetSymbol` in ENet).
const SYMBOL_CAPACITY: usize = 4096;
/// The model restarts once this many nodes are in use, checked after every byte.
const SYMBOL_RESET_THRESHOLD: usize = SYMBOL_CAPACITY - SUBCONTEXT_ORDER as usize;
/// A context whose total passes this is rescaled (`ENET_RANGE_CODER_BOTTOM - 0x100`).
const RESCALE_TOTAL: u16 = (RANGE_BOTTOM - 0x100) as u16;
/// A subcontext symbol whose count passed this is rescaled (`0xFF - 2 * SUBCONTEXT_SYMBOL_DELTA`).
const SUBCONTEXT_RESCALE_COUNT: u16 = 0xFF - 2 * SUBCONTEXT_SYMBOL_DELTA;
/// Root equivalent: `0xFF - 2 * CONTEXT_SYMBOL_DELTA + CONTEXT_SYMBOL_MINIMUM`.
const ROOT_RESCALE_COUNT: u16 = 0xFF - 2 * CONTEXT_SYMBOL_DELTA + CONTEXT_SYMBOL_MINIMUM;

/// Index of the order-0 context; also "no node" in child and tree links.
const ROOT: u16 = 0;

/// One arena node: a symbol in its context's binary tree and, at the same time, a context of its
/// own. Links are absolute arena indices (ENet stores positive relative offsets; a child is always
/// created after its parent, so both encodings describe the same tree). 0 means "none".
#[derive(Debug, Clone, Copy, Default)]
struct Symbol {
    value: u8,
    count: u8,
    /// `count` plus the counts of the left subtree.
    under: u16,
    left: u16,
    right: u16,
    /// As a context: root of its symbol tree, 0 when empty.
    symbols: u16,
    /// As a context: escape frequency.
    escapes: u16,
    /// As a context: escapes + symbol counts (+ 256 * minimum for the root).
    total: u16,
    /// Suffix link: the node for the same last byte in the next lower-order context.
    parent: u16,
}

/// Where the next "parent" link is written while walking down the context chain: first the
/// `predicted` cursor itself, then the `parent` field of each node just coded.
#[derive(Clone, Copy)]
enum Link {
    Predicted,
    Parent(u16),
}

/// Which child link of a node in a context's symbol tree.
#[derive(Clone, Copy)]
enum Child {
    Left,
    Right,
}

/// Counts the steps of a walk along the model's parent links. Corrupted input can rewrite those
/// links into a cycle, on which ENet would spin forever; a walk longer than the arena must be
/// one, and [`step`](Self::step) ends it.
#[derive(Default)]
struct Walk {
    steps: usize,
}

impl Walk {
    /// One more step; `None` once there were more steps than the arena has nodes.
    fn step(&mut self) -> Option<()> {
        self.steps += 1;
        (self.steps <= SYMBOL_CAPACITY).then_some(())
    }
}

/// ENet's adaptive range coder, byte-compatible with `enet_host_compress_with_range_coder`.
///
/// Holds its 4096-node model arena inline (64 KiB) and reuses it for every call: no allocation
/// after construction.
#[derive(Clone)]
pub struct RangeCoder {
    symbols: [Symbol; SYMBOL_CAPACITY],
    next_symbol: usize,
}

codec_debug_and_default!(RangeCoder);

impl RangeCoder {
    /// A coder with an empty model; the model is rebuilt at the start of every call anyway.
    pub fn new() -> Self {
        Self {
            symbols: [Symbol::default(); SYMBOL_CAPACITY],
            next_symbol: 0,
        }
    }

    /// Empty the arena and create the root context (`create_context(1, 1)`) at index 0.
    fn reset_model(&mut self) {
        self.next_symbol = 0;
        // The arena is empty, so this cannot fail and always yields ROOT.
        let root = self.create_symbol(0, 0).unwrap_or(ROOT);
        let node = &mut self.symbols[usize::from(root)];
        node.escapes = CONTEXT_ESCAPE_MINIMUM;
        node.total = CONTEXT_ESCAPE_MINIMUM + 256 * CONTEXT_SYMBOL_MINIMUM;
        node.symbols = 0;
    }

    /// Take the next free node. `None` when the arena is exhausted, which only corrupted input
    /// can cause (a valid model never needs more than 3 nodes per byte below the reset threshold).
    fn create_symbol(&mut self, value: u8, count: u16) -> Option<u16> {
        if self.next_symbol >= SYMBOL_CAPACITY {
            return None;
        }
        let index = self.next_symbol;
        self.next_symbol += 1;
        self.symbols[index] = Symbol {
            value,
            count: count as u8,
            under: count,
            ..Symbol::default()
        };
        // index < 4096, so it fits in u16.
        Some(index as u16)
    }

    /// Creates the symbol `value` with count `update` and hangs it on the empty `child` link of
    /// `parent`; returns the new node.
    fn insert_symbol(&mut self, parent: u16, child: Child, value: u8, update: u16) -> Option<u16> {
        let node = self.create_symbol(value, update)?;
        let parent = self.node_mut(parent);
        match child {
            Child::Left => parent.left = node,
            Child::Right => parent.right = node,
        }
        Some(node)
    }

    fn node(&self, index: u16) -> &Symbol {
        &self.symbols[usize::from(index)]
    }

    fn node_mut(&mut self, index: u16) -> &mut Symbol {
        &mut self.symbols[usize::from(index)]
    }

    fn write_link(&mut self, link: Link, node: u16, predicted: &mut u16) {
        match link {
            Link::Predicted => *predicted = node,
            Link::Parent(holder) => self.node_mut(holder).parent = node,
        }
    }

    /// Find or insert `value` in `ctx`'s tree, adding `update` to its count (section 12.2.3).
    /// Returns the node and the symbol's `(under, count)` as they were before this update.
    fn context_encode(
        &mut self,
        ctx: u16,
        value: u8,
        update: u16,
        minimum: u16,
    ) -> Option<(u16, u16, u16)> {
        let mut under = u16::from(value).wrapping_mul(minimum);
        let mut count = minimum;
        let first = self.node(ctx).symbols;
        if first == ROOT {
            let node = self.create_symbol(value, update)?;
            self.node_mut(ctx).symbols = node;
            return Some((node, under, count));
        }
        let mut n = first;
        loop {
            let current = *self.node(n);
            if value < current.value {
                self.node_mut(n).under = current.under.wrapping_add(update);
                if current.left != ROOT {
                    n = current.left;
                    continue;
                }
                let node = self.insert_symbol(n, Child::Left, value, update)?;
                return Some((node, under, count));
            } else if value > current.value {
                under = under.wrapping_add(current.under);
                if current.right != ROOT {
                    n = current.right;
                    continue;
                }
                let node = self.insert_symbol(n, Child::Right, value, update)?;
                return Some((node, under, count));
            } else {
                count = count.wrapping_add(u16::from(current.count));
                under = under
                    .wrapping_add(current.under)
                    .wrapping_sub(u16::from(current.count));
                let node = self.node_mut(n);
                node.under = node.under.wrapping_add(update);
                node.count = node.count.wrapping_add(update as u8);
                return Some((n, under, count));
            }
        }
    }

    /// Decoder lookup in a subcontext (minimum 0): map the code value `code` to the symbol whose
    /// range contains it. `None` if it falls outside every existing symbol (section 12.2.7).
    fn subcontext_decode(
        &mut self,
        ctx: u16,
        code: u16,
        update: u16,
    ) -> Option<(u16, u8, u16, u16)> {
        let mut under: u16 = 0;
        let mut n = self.node(ctx).symbols;
        if n == ROOT {
            return None;
        }
        loop {
            let current = *self.node(n);
            let after = under.wrapping_add(current.under);
            let before = u16::from(current.count);
            if code >= after {
                under = under.wrapping_add(current.under);
                if current.right == ROOT {
                    return None;
                }
                n = current.right;
            } else if i32::from(code) < i32::from(after) - i32::from(before) {
                // ENet bumps `under` on the way down even if the walk then fails.
                self.node_mut(n).under = current.under.wrapping_add(update);
                if current.left == ROOT {
                    return None;
                }
                n = current.left;
            } else {
                let node = self.node_mut(n);
                node.under = node.under.wrapping_add(update);
                node.count = node.count.wrapping_add(update as u8);
                return Some((
                    n,
                    current.value,
                    after.wrapping_sub(before),
                    u16::from(current.count),
                ));
            }
        }
    }

    /// Decoder lookup in the root context (minimum 1). Every byte value is codable there, so a
    /// code value outside the existing nodes creates the symbol it stands for.
    fn root_decode(&mut self, code: u16) -> Option<(u16, u8, u16, u16)> {
        let update = CONTEXT_SYMBOL_DELTA;
        let minimum = CONTEXT_SYMBOL_MINIMUM;
        let mut under: u16 = 0;
        let mut n = self.node(ROOT).symbols;
        if n == ROOT {
            let value = code as u8;
            let node = self.create_symbol(value, update)?;
            self.node_mut(ROOT).symbols = node;
            return Some((node, value, code, minimum));
        }
        loop {
            let current = *self.node(n);
            let after = under
                .wrapping_add(current.under)
                .wrapping_add((u16::from(current.value) + 1).wrapping_mul(minimum));
            let before = u16::from(current.count) + minimum;
            if code >= after {
                under = under.wrapping_add(current.under);
                if current.right != ROOT {
                    n = current.right;
                    continue;
                }
                // C computes this in int and stores it in a u8.
                let value =
                    (i32::from(current.value) + 1 + (i32::from(code) - i32::from(after))) as u8;
                let node = self.insert_symbol(n, Child::Right, value, update)?;
                return Some((node, value, code, minimum));
            } else if i32::from(code) < i32::from(after) - i32::from(before) {
                self.node_mut(n).under = current.under.wrapping_add(update);
                if current.left != ROOT {
                    n = current.left;
                    continue;
                }
                let gap = i32::from(after) - i32::from(before) - i32::from(code) - 1;
                let value = (i32::from(current.value) - 1 - gap) as u8;
                let node = self.insert_symbol(n, Child::Left, value, update)?;
                return Some((node, value, code, minimum));
            } else {
                let node = self.node_mut(n);
                node.under = node.under.wrapping_add(update);
                node.count = node.count.wrapping_add(update as u8);
                let count = minimum.wrapping_add(u16::from(current.count));
                return Some((n, current.value, after.wrapping_sub(before), count));
            }
        }
    }

    /// Halve every count in the tree rooted at `n` (rounding up) and rebuild `under`; returns the
    /// tree's new sum of counts. Recursion follows left children only; depth is bounded by the
    /// arena size because children always have higher indices than their parents.
    fn rescale_tree(&mut self, mut n: u16) -> u16 {
        let mut total: u16 = 0;
        loop {
            let node = self.node_mut(n);
            node.count -= node.count >> 1;
            node.under = u16::from(node.count);
            let (left, right) = (node.left, node.right);
            if left != ROOT {
                let left_total = self.rescale_tree(left);
                let node = self.node_mut(n);
                node.under = node.under.wrapping_add(left_total);
            }
            total = total.wrapping_add(self.node(n).under);
            if right == ROOT {
                return total;
            }
            n = right;
        }
    }

    fn rescale_context(&mut self, ctx: u16, minimum: u16) {
        let first = self.node(ctx).symbols;
        let tree_total = if first != ROOT {
            self.rescale_tree(first)
        } else {
            0
        };
        let node = self.node_mut(ctx);
        node.escapes -= node.escapes >> 1;
        node.total = tree_total
            .wrapping_add(node.escapes)
            .wrapping_add(256u16.wrapping_mul(minimum));
    }

    /// Bump a subcontext after coding in it (or patching it), rescaling when a limit is passed.
    fn update_subcontext(&mut self, ctx: u16, count: u16, escaped: bool) {
        let node = self.node_mut(ctx);
        if escaped {
            node.escapes = node.escapes.wrapping_add(SUBCONTEXT_ESCAPE_DELTA);
            node.total = node.total.wrapping_add(SUBCONTEXT_ESCAPE_DELTA);
        }
        node.total = node.total.wrapping_add(SUBCONTEXT_SYMBOL_DELTA);
        if count > SUBCONTEXT_RESCALE_COUNT || node.total > RESCALE_TOTAL {
            self.rescale_context(ctx, 0);
        }
    }

    fn update_root(&mut self, count: u16) {
        let node = self.node_mut(ROOT);
        node.total = node.total.wrapping_add(CONTEXT_SYMBOL_DELTA);
        if count > ROOT_RESCALE_COUNT || node.total > RESCALE_TOTAL {
            self.rescale_context(ROOT, CONTEXT_SYMBOL_MINIMUM);
        }
    }

    /// Move to the next byte's context; restart the model when the arena is nearly full.
    fn advance(&mut self, predicted: &mut u16, order: &mut u32) {
        if *order >= SUBCONTEXT_ORDER {
            *predicted = self.node(*predicted).parent;
        } else {
            *order += 1;
        }
        if self.next_symbol >= SYMBOL_RESET_THRESHOLD {
            (*predicted, *order) = self.restart();
        }
    }

    /// Empty the model and start predicting from the root: the `(predicted, order)` a stream
    /// starts with.
    fn restart(&mut self) -> (u16, u32) {
        self.reset_model();
        (ROOT, 0)
    }

    fn compress_into(&mut self, input: &[&[u8]], out: &mut [u8]) -> Option<usize> {
        let mut encoder = Encoder {
            low: 0,
            range: u32::MAX,
            out: Sink::new(out),
        };
        let (mut predicted, mut order) = self.restart();
        for &value in input.iter().flat_map(|buffer| buffer.iter()) {
            let mut link = Link::Predicted;
            let mut ctx = predicted;
            let mut coded = false;
            // A valid model has at most two subcontexts above the root; the bound only guards
            // against a logic error turning into a hang.
            let mut walk = Walk::default();
            while ctx != ROOT {
                walk.step()?;
                let (node, under, count) =
                    self.context_encode(ctx, value, SUBCONTEXT_SYMBOL_DELTA, 0)?;
                self.write_link(link, node, &mut predicted);
                link = Link::Parent(node);
                let context = *self.node(ctx);
                let total = context.total;
                if count > 0 {
                    encoder.encode(u32::from(context.escapes) + u32::from(under), count, total)?;
                } else if context.escapes > 0 && context.escapes < total {
                    encoder.encode(0, context.escapes, total)?;
                }
                self.update_subcontext(ctx, count, count == 0);
                if count > 0 {
                    coded = true;
                    break;
                }
                ctx = self.node(ctx).parent;
            }
            if !coded {
                let (node, under, count) =
                    self.context_encode(ROOT, value, CONTEXT_SYMBOL_DELTA, CONTEXT_SYMBOL_MINIMUM)?;
                self.write_link(link, node, &mut predicted);
                let root = *self.node(ROOT);
                encoder.encode(
                    u32::from(root.escapes) + u32::from(under),
                    count,
                    root.total,
                )?;
                self.update_root(count);
            }
            self.advance(&mut predicted, &mut order);
        }
        encoder.flush()?;
        Some(encoder.out.len)
    }

    fn decompress_into(&mut self, input: &[u8], out: &mut [u8]) -> Option<usize> {
        let mut decoder = Decoder {
            low: 0,
            code: 0,
            range: u32::MAX,
            input,
            pos: 0,
        };
        decoder.seed();
        let (mut predicted, mut order) = self.restart();
        let mut written = 0;
        loop {
            let start = predicted;
            let mut ctx = predicted;
            let mut found = None;
            // Corrupted input can rewrite suffix links into a cycle, on which ENet would spin
            // forever; a chain longer than the arena must be such a cycle.
            let mut walk = Walk::default();
            while ctx != ROOT {
                walk.step()?;
                let context = *self.node(ctx);
                let total = context.total;
                if context.escapes == 0 || context.escapes >= total {
                    ctx = context.parent;
                    continue;
                }
                let code = decoder.read_freq(total)?;
                if code < context.escapes {
                    decoder.decode(0, context.escapes, total)?;
                    ctx = self.node(ctx).parent;
                    continue;
                }
                let (node, value, under, count) =
                    self.subcontext_decode(ctx, code - context.escapes, SUBCONTEXT_SYMBOL_DELTA)?;
                decoder.decode(u32::from(context.escapes) + u32::from(under), count, total)?;
                self.update_subcontext(ctx, count, false);
                found = Some((ctx, node, value));
                break;
            }
            let (found_in, bottom, value) = match found {
                Some(found) => found,
                None => {
                    let root = *self.node(ROOT);
                    let code = decoder.read_freq(root.total)?;
                    if code < root.escapes {
                        // End of stream: the flushed encoder leaves `code == low`.
                        decoder.decode(0, root.escapes, root.total)?;
                        break;
                    }
                    let (node, value, under, count) = self.root_decode(code - root.escapes)?;
                    decoder.decode(
                        u32::from(root.escapes) + u32::from(under),
                        count,
                        root.total,
                    )?;
                    self.update_root(count);
                    (ROOT, node, value)
                }
            };
            // Add the byte to the higher-order contexts we escaped from, as the encoder did.
            let mut link = Link::Predicted;
            let mut patch = start;
            let mut walk = Walk::default();
            while patch != found_in {
                walk.step()?;
                // Walking past the root (ENet would patch the root as a subcontext and overrun
                // its arena) only happens with corrupted input.
                if patch == ROOT {
                    return None;
                }
                let (node, _, count) =
                    self.context_encode(patch, value, SUBCONTEXT_SYMBOL_DELTA, 0)?;
                self.write_link(link, node, &mut predicted);
                link = Link::Parent(node);
                self.update_subcontext(patch, count, count == 0);
                patch = self.node(patch).parent;
            }
            self.write_link(link, bottom, &mut predicted);
            *out.get_mut(written)? = value;
            written += 1;
            self.advance(&mut predicted, &mut order);
        }
        Some(written)
    }
}

impl Compressor for RangeCoder {
    /// Compress the concatenation of `input` into `out`. `None` if the input is empty or the
    /// output would not fit `out` (ENet passes the uncompressed size as the limit, so an
    /// incompressible datagram fails early and is sent plain).
    fn compress(&mut self, input: &[&[u8]], out: &mut [u8]) -> Option<usize> {
        if input.iter().all(|buffer| buffer.is_empty()) {
            return None;
        }
        self.compress_into(input, out)
    }

    /// Decompress `input` into `out`. `None` if the input is empty, corrupt or truncated in a way
    /// the model detects, decodes to nothing (ENet's "0 = failure"), or needs more than
    /// `out.len()` bytes.
    fn decompress(&mut self, input: &[u8], out: &mut [u8]) -> Option<usize> {
        if input.is_empty() {
            return None;
        }
        match self.decompress_into(input, out) {
            Some(0) | None => None,
            Some(len) => Some(len),
        }
    }
}

/// Carry-less range encoder state (section 12.2.5).
struct Encoder<'a> {
    low: u32,
    range: u32,
    out: Sink<'a>,
}

impl Encoder<'_> {
    fn encode(&mut self, under: u32, count: u16, total: u16) -> Option<()> {
        if total == 0 {
            return None;
        }
        self.range /= u32::from(total);
        self.low = self.low.wrapping_add(under.wrapping_mul(self.range));
        self.range = self.range.wrapping_mul(u32::from(count));
        // Every iteration writes a byte, so the bounded output also bounds this loop.
        loop {
            if self.low ^ self.low.wrapping_add(self.range) >= RANGE_TOP {
                if self.range >= RANGE_BOTTOM {
                    return Some(());
                }
                self.range = self.low.wrapping_neg() & (RANGE_BOTTOM - 1);
            }
            self.out.push((self.low >> 24) as u8)?;
            self.range <<= 8;
            self.low <<= 8;
        }
    }

    fn flush(&mut self) -> Option<()> {
        while self.low != 0 {
            self.out.push((self.low >> 24) as u8)?;
            self.low <<= 8;
        }
        Some(())
    }
}

/// Range decoder state; input past the end reads as zero bytes, as in ENet.
struct Decoder<'a> {
    low: u32,
    code: u32,
    range: u32,
    input: &'a [u8],
    pos: usize,
}

impl Decoder<'_> {
    fn next_byte(&mut self) -> u32 {
        match self.input.get(self.pos) {
            Some(&byte) => {
                self.pos += 1;
                u32::from(byte)
            }
            None => 0,
        }
    }

    fn seed(&mut self) {
        for _ in 0..4 {
            self.code = (self.code << 8) | self.next_byte();
        }
    }

    /// Scale the range to `total` and return the code's frequency, truncated to 16 bits as in C.
    fn read_freq(&mut self, total: u16) -> Option<u16> {
        if total == 0 {
            return None;
        }
        self.range /= u32::from(total);
        if self.range == 0 {
            return None;
        }
        Some((self.code.wrapping_sub(self.low) / self.range) as u16)
    }

    fn decode(&mut self, under: u32, count: u16, _total: u16) -> Option<()> {
        self.low = self.low.wrapping_add(under.wrapping_mul(self.range));
        self.range = self.range.wrapping_mul(u32::from(count));
        // With a non-zero range this loop ends within a few iterations (each shift appends a zero
        // byte to the range); a zero range, reachable only through corrupted input, would spin.
        if self.range == 0 {
            return None;
        }
        loop {
            if self.low ^ self.low.wrapping_add(self.range) >= RANGE_TOP {
                if self.range >= RANGE_BOTTOM {
                    return Some(());
                }
                self.range = self.low.wrapping_neg() & (RANGE_BOTTOM - 1);
            }
            self.code = (self.code << 8) | self.next_byte();
            self.range <<= 8;
            self.low <<= 8;
        }
    }
}
