"""Storage for encrypted attachment chunks: an interface and its folder implementation."""

from gateway.blobs.folder import FolderBlobStore
from gateway.blobs.interface import BlobNotFound, BlobStore, BlobTooLarge, InvalidBlobKey

__all__ = ["BlobNotFound", "BlobStore", "BlobTooLarge", "FolderBlobStore", "InvalidBlobKey"]
