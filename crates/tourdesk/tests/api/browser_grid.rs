//! The console's week grid, phone layouts and keyboard paths in a real
//! headless Chromium (#17 items 15, 19, 20, 21).
