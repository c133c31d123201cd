"""The fuzzer: hostile input thrown at a running system; every input must be accounted for."""
