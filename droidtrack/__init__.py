"""droidtrack: account for every byte of an Android device's shared (dma-buf) memory."""

__version__ = "0.1.0"
