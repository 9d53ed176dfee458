// The engine as one module, for callers outside this package (the fuzz targets, the
// benchmarks): every stage's public API, re-exported. Code inside the package imports
// the stages it needs, so the compiler keeps each stage to the ones before it.
@_exported import MaildexSupport
@_exported import MaildexParse
@_exported import MaildexRead
@_exported import MaildexSessionize
@_exported import MaildexIndex
@_exported import MaildexQuery
@_exported import MaildexExport
