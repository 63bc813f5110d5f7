//! The integration test binary (`autotests = false`): every test module is included here.

mod providers;
