# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
