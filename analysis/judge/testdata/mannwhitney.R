# Reference values for the judge's Mann-Whitney test, from R's wilcox.test.
# Regenerate (Debian: apt-get install r-base-core) from analysis/judge:
#   Rscript testdata/mannwhitney.R > testdata/mannwhitney.golden
# Each line: name, conf.level, x, y (comma-separated), then R's W, p-value,
# the Hodges-Lehmann estimate (median of every x-y difference), the
# confidence interval, and whether the exact distribution was used.
set.seed(20261204)
cases <- list(
  list("exact small shift", 0.98, c(1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30), c(0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29)),
  list("exact no difference", 0.95, round(rnorm(12, 100, 10), 3), round(rnorm(15, 100, 10), 3)),
  list("exact latency doubled", 0.98, round(rlnorm(20, log(200), 0.2), 2), round(rlnorm(20, log(100), 0.2), 2)),
  list("exact single values", 0.95, c(5), c(3)),
  list("exact 49 each", 0.98, round(rnorm(49, 10.5, 2), 4), round(rnorm(49, 10, 2), 4)),
  list("normal 50 each", 0.98, round(rnorm(50, 10.5, 2), 4), round(rnorm(50, 10, 2), 4)),
  list("normal 60 and 40 latency +20%", 0.98, round(rlnorm(60, log(120), 0.3), 3), round(rlnorm(40, log(100), 0.3), 3)),
  list("normal ties error rates", 0.98, round(runif(30, 0, 3)), round(runif(30, 0, 2))),
  list("normal ties small", 0.95, c(1, 2, 2, 3, 3, 3, 4), c(2, 2, 3, 4, 4, 5)),
  list("normal canary lower", 0.98, round(rnorm(80, 95, 3), 2), round(rnorm(80, 99, 1), 2)),
  list("exact negative values", 0.90, round(rnorm(10, -5, 1), 3), round(rnorm(8, -5.5, 1), 3)),
  list("exact large values", 0.98, round(rnorm(15, 1e9, 1e7)), round(rnorm(15, 1.02e9, 1e7)))
)
for (cs in cases) {
  x <- cs[[3]]; y <- cs[[4]]
  r <- suppressWarnings(wilcox.test(x, y, conf.int = TRUE, conf.level = cs[[2]]))
  exact <- (length(x) < 50) && (length(y) < 50) && length(unique(c(x, y))) == length(c(x, y))
  cat(cs[[1]], cs[[2]], paste(format(x, digits = 17), collapse = ","), paste(format(y, digits = 17), collapse = ","),
      format(r$statistic, digits = 17), format(r$p.value, digits = 17), format(median(outer(x, y, "-")), digits = 17),
      format(r$conf.int[1], digits = 17), format(r$conf.int[2], digits = 17), exact, sep = "\t")
  cat("\n")
}
