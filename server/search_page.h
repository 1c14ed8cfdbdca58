// File: server/search_page.h
//
// The search page served at GET / of the HTTP listener (`scry serve
// --http-listen`): server/web/search.html, built into the binary (CMake
// embeds it), so the page has no file to find at run time and no external
// asset: it works offline.
#ifndef SCRY_SERVER_SEARCH_PAGE_H_
#define SCRY_SERVER_SEARCH_PAGE_H_

namespace scry::server {

extern const char kSearchPageHtml[];

}  // namespace scry::server

#endif  // SCRY_SERVER_SEARCH_PAGE_H_
