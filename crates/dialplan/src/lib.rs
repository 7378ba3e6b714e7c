//! switchboard-dialplan (first module being written).
