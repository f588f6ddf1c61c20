//! Buffers of their own pages: memory that goes back to the system the
//! moment the buffer is dropped, whatever the allocator would keep. Used
//! for large replies that wait in a client's queue (a NAMES of a crowded
//! room): a connect storm queues many of them at once, and from the heap
//! they would leave the allocator holding their high-water mark for good.

use std::io;
use std::ptr::NonNull;

/// A read-only copy of some bytes in pages mapped for it alone.
pub struct MappedBuf {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is owned by this value alone and never written after
// creation; sharing or sending it is as safe as for a `Box<[u8]>`.
unsafe impl Send for MappedBuf {}
// SAFETY: as above, it is read-only once made.
unsafe impl Sync for MappedBuf {}

impl MappedBuf {
    /// Copies `bytes` into new private anonymous pages. Empty input, or a
    /// failed mapping, is an error (the caller keeps the heap copy then).
    pub fn copy_of(bytes: &[u8]) -> io::Result<MappedBuf> {
        if bytes.is_empty() {
            return Err(io::ErrorKind::InvalidInput.into());
        }
        // SAFETY: a fresh private anonymous mapping: no file, no address
        // hint, checked for MAP_FAILED below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes.len(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(p.cast::<u8>()).ok_or(io::ErrorKind::Other)?;
        // SAFETY: the mapping is at least `bytes.len()` long and writable,
        // and cannot overlap `bytes`, which lives elsewhere.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr.as_ptr(), bytes.len()) };
        Ok(MappedBuf {
            ptr,
            len: bytes.len(),
        })
    }
}

impl std::ops::Deref for MappedBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` points to `len` initialised bytes that live until
        // drop, and are never written after creation.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for MappedBuf {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `copy_of`, once.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

impl std::fmt::Debug for MappedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MappedBuf({} bytes)", self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_reads_back_the_same_bytes() {
        let data: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        let m = MappedBuf::copy_of(&data).expect("mapped");
        assert_eq!(&m[..], &data[..]);
        assert!(MappedBuf::copy_of(&[]).is_err());
    }
}
