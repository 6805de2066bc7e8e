//! What the dynamic linker knows about the process, for the graft
//! (`graft/mod.rs`): which loaded object is the executable, which is this
//! library, and where a name is defined, with the type and size its symbol
//! table gives it. Only libc's dynamic-linker interfaces are used
//! (`dl_iterate_phdr`, `dlsym`, `dladdr1`, `dlopen(RTLD_NOLOAD)`); nothing
//! here writes anything or initialises the library.

use core::ffi::{c_char, c_int, c_void, CStr};

/// `dladdr1` flag: return the symbol table entry (glibc's `RTLD_DL_SYMENT`).
const RTLD_DL_SYMENT: c_int = 1;
/// `STT_FUNC` and `STT_OBJECT` of `ELF64_ST_TYPE`.
const STT_OBJECT: u8 = 1;
const STT_FUNC: u8 = 2;
/// `SHN_UNDEF`: an undefined symbol (a non-PIE executable's canonical PLT
/// entry for a function it only takes the address of).
const SHN_UNDEF: u16 = 0;

/// The address range a loaded object's `PT_LOAD` segments cover.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Span {
    start: usize,
    end: usize,
}

impl Span {
    /// Whether `addr` lies in the object.
    pub(crate) fn contains(self, addr: usize) -> bool {
        self.start <= addr && addr < self.end
    }
}

/// What `dl_iterate_phdr`'s callback looks for: the first object (the
/// executable, as glibc documents) or the one holding an address.
struct Search {
    want: Option<usize>,
    found: Option<Span>,
}

/// The span of one object, from its program headers.
///
/// # Safety
/// `info` must be what `dl_iterate_phdr` passed to its callback.
unsafe fn span_of(info: &libc::dl_phdr_info) -> Option<Span> {
    let mut span: Option<Span> = None;
    for i in 0..usize::from(info.dlpi_phnum) {
        // SAFETY: `dlpi_phdr` points to `dlpi_phnum` program headers.
        let ph = unsafe { &*info.dlpi_phdr.add(i) };
        if ph.p_type != libc::PT_LOAD {
            continue;
        }
        let start = (info.dlpi_addr + ph.p_vaddr) as usize;
        let end = start + ph.p_memsz as usize;
        span = Some(match span {
            None => Span { start, end },
            Some(s) => Span { start: s.start.min(start), end: s.end.max(end) },
        });
    }
    span
}

unsafe extern "C" fn visit(info: *mut libc::dl_phdr_info, _size: usize, data: *mut c_void) -> c_int {
    // SAFETY: `data` is the `Search` passed to dl_iterate_phdr below, and
    // `info` is valid for the call.
    let (search, info) = unsafe { (&mut *data.cast::<Search>(), &*info) };
    // SAFETY: `info` comes from dl_iterate_phdr.
    let span = unsafe { span_of(info) };
    match search.want {
        None => {
            search.found = span;
            1
        }
        Some(addr) if span.is_some_and(|s| s.contains(addr)) => {
            search.found = span;
            1
        }
        Some(_) => 0,
    }
}

fn iterate(want: Option<usize>) -> Option<Span> {
    let mut search = Search { want, found: None };
    // SAFETY: `visit` only reads the headers it is given and writes
    // `search`, which outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(visit), (&raw mut search).cast()) };
    search.found
}

/// The executable (the first object `dl_iterate_phdr` visits).
pub(crate) fn executable() -> Option<Span> {
    iterate(None)
}

/// The loaded object that holds `addr`.
pub(crate) fn object_holding(addr: usize) -> Option<Span> {
    iterate(Some(addr))
}

/// For [`loaded_before`]: two addresses, and which one's object came
/// first (0 or 1).
struct Order {
    addrs: [usize; 2],
    first: Option<usize>,
}

unsafe extern "C" fn visit_order(info: *mut libc::dl_phdr_info, _size: usize, data: *mut c_void) -> c_int {
    // SAFETY: `data` is the `Order` passed to dl_iterate_phdr below, and
    // `info` is valid for the call.
    let (order, info) = unsafe { (&mut *data.cast::<Order>(), &*info) };
    // SAFETY: `info` comes from dl_iterate_phdr.
    let Some(span) = (unsafe { span_of(info) }) else { return 0 };
    order.first = order.addrs.iter().position(|&a| span.contains(a));
    c_int::from(order.first.is_some())
}

/// Whether the object holding `a` was loaded before the one holding `b`
/// (`dl_iterate_phdr` visits objects in load order: the executable, the
/// `LD_PRELOAD` ones, its `DT_NEEDED` tree breadth first, which is the
/// lookup order of all of them; then whatever `dlopen` added later).
pub(crate) fn loaded_before(a: usize, b: usize) -> bool {
    let mut order = Order { addrs: [a, b], first: None };
    // SAFETY: `visit_order` only reads the headers it is given and writes
    // `order`, which outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(visit_order), (&raw mut order).cast()) };
    order.first == Some(0)
}

/// libc's own definition of `name` (not an interposer's), if libc is
/// loaded.
pub(crate) fn in_libc(name: &CStr) -> Option<usize> {
    // SAFETY: a NUL-terminated name; RTLD_NOLOAD loads nothing, it only
    // returns a handle (one more reference, dropped below) if libc is in.
    let handle = unsafe { libc::dlopen(c"libc.so.6".as_ptr(), libc::RTLD_LAZY | libc::RTLD_NOLOAD) };
    if handle.is_null() {
        return None;
    }
    // SAFETY: a handle from dlopen and a NUL-terminated name; a lookup
    // through libc's handle starts at libc.
    let p = unsafe { libc::dlsym(handle, name.as_ptr()) } as usize;
    // SAFETY: drops the reference taken above; libc stays loaded.
    unsafe { libc::dlclose(handle) };
    (p != 0).then_some(p)
}

/// What a symbol table says about one definition.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    /// `STT_FUNC` of this many bytes.
    Function(u64),
    /// `STT_OBJECT`.
    Data,
    /// Anything else (another type, or not the symbol of that name).
    Other,
}

/// Where the process's global lookup (`dlsym(RTLD_DEFAULT)`, the order the
/// executable's own references and this library's resolve in) finds
/// `name`, and what the defining object's symbol table says of it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Definition {
    /// The address bound to the name.
    pub(crate) addr: usize,
    /// Its symbol's type and size.
    pub(crate) kind: Kind,
}

/// The global definition of `name`, or None if nothing defines it.
pub(crate) fn global(name: &CStr) -> Option<Definition> {
    // SAFETY: RTLD_DEFAULT and a NUL-terminated name.
    let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    (!p.is_null()).then(|| Definition { addr: p as usize, kind: kind_at(p as usize, name) })
}

/// The type and size of the symbol `name` defined at `addr`, from the
/// defining object's dynamic symbol table.
fn kind_at(addr: usize, name: &CStr) -> Kind {
    let mut info = core::mem::MaybeUninit::<libc::Dl_info>::zeroed();
    let mut sym: *mut c_void = core::ptr::null_mut();
    // SAFETY: `info` and `sym` are valid out-pointers; dladdr1 only reads
    // the dynamic linker's tables.
    let found = unsafe { libc::dladdr1(addr as *const c_void, info.as_mut_ptr(), &mut sym, RTLD_DL_SYMENT) };
    if found == 0 || sym.is_null() {
        return Kind::Other;
    }
    // SAFETY: dladdr1 succeeded and filled `info`.
    let info = unsafe { info.assume_init() };
    // SAFETY: with RTLD_DL_SYMENT, `sym` points to the ElfW(Sym) of the
    // symbol dladdr1 matched, in the object's mapped symbol table.
    let sym = unsafe { &*sym.cast::<libc::Elf64_Sym>() };
    // The nearest symbol below `addr` may be another one (an undefined
    // canonical PLT entry is never matched): it must be `name`, at `addr`.
    // SAFETY: `dli_sname`, when set, is a NUL-terminated name in the
    // object's string table.
    let same_name = !info.dli_sname.is_null() && unsafe { CStr::from_ptr(info.dli_sname) } == name;
    if !same_name || info.dli_saddr as usize != addr || sym.st_shndx == SHN_UNDEF {
        return Kind::Other;
    }
    match sym.st_info & 0xf {
        STT_FUNC => Kind::Function(sym.st_size),
        STT_OBJECT => Kind::Data,
        _ => Kind::Other,
    }
}

/// This library as a loaded object: its span, its file name and a handle
/// for looking up its own definitions.
pub(crate) struct Own {
    /// Where it is mapped.
    pub(crate) span: Span,
    handle: *mut c_void,
    name: *const c_char,
}

impl Own {
    /// The object that holds `anchor` (an address of this library's
    /// code). None if the dynamic linker cannot name it, e.g. when the
    /// library is linked into the executable.
    pub(crate) fn find(anchor: usize) -> Option<Own> {
        let span = object_holding(anchor)?;
        let mut info = core::mem::MaybeUninit::<libc::Dl_info>::zeroed();
        // SAFETY: a valid out-pointer; dladdr only reads the linker's tables.
        if unsafe { libc::dladdr(anchor as *const c_void, info.as_mut_ptr()) } == 0 {
            return None;
        }
        // SAFETY: dladdr succeeded and filled `info`.
        let name = unsafe { info.assume_init() }.dli_fname;
        if name.is_null() {
            return None;
        }
        // Already loaded: RTLD_NOLOAD only returns a handle to it (one more
        // reference, dropped in `drop`).
        // SAFETY: `name` is the loaded object's NUL-terminated name.
        let handle = unsafe { libc::dlopen(name, libc::RTLD_LAZY | libc::RTLD_NOLOAD) };
        (!handle.is_null()).then_some(Own { span, handle, name })
    }

    /// This library's own definition of `name` (a lookup through its
    /// handle starts at the library itself), if it lies in the library.
    pub(crate) fn lookup(&self, name: &CStr) -> Option<usize> {
        // SAFETY: a handle from dlopen and a NUL-terminated name.
        let p = unsafe { libc::dlsym(self.handle, name.as_ptr()) } as usize;
        (p != 0 && self.span.contains(p)).then_some(p)
    }

    /// The library's file name as the dynamic linker knows it.
    pub(crate) fn file_name(&self) -> &CStr {
        // SAFETY: `name` came from dladdr and stays valid while the object
        // is loaded, which it is while `self` holds a reference.
        unsafe { CStr::from_ptr(self.name) }
    }
}

impl Drop for Own {
    fn drop(&mut self) {
        // SAFETY: drops the reference `find` took; the library stays loaded
        // (it was loaded before, by its own load).
        unsafe { libc::dlclose(self.handle) };
    }
}
