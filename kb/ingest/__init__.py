"""Reading source files into versioned, chunked passages."""
