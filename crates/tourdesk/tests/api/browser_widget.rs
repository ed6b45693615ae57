//! The customer booking widget in a real headless Chromium (#17, customer
//! side): phone layout, labelled times, alternatives, the embed.
