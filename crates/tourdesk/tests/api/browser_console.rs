//! The operator console in a real headless Chromium (#17, operator side):
//! every console path a person uses on a Monday morning, checked through
//! the API afterwards.
