"""The Lightning engine every experiment trains on: module base, data, callbacks, resume."""
