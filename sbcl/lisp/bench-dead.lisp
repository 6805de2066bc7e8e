;;;; What a dead but not yet reaped thread costs (the state 0.9.4.1 leaves
;;;; every thread in until a GC runs its finalizer): creates N threads
;;;; (default 2000) that end at once, keeps them referenced (so no finalizer
;;;; reaps them), waits until all are dead, and reports the growth per
;;;; thread of resident memory (VmRSS) and of map entries (/proc/self/maps
;;;; lines):
;;;;   dead-thread-rss   KiB per dead, unreaped thread
;;;;   dead-thread-maps  map entries per dead, unreaped thread
;;;; Settings: threads=N.

(in-package "CL-USER")

(load (merge-pathnames "bench-common.lisp" *load-truename*))

(defvar *n* (bench-arg :threads 2000))

(sb-ext:gc :full t)
;; a first thread created and reaped: whatever the first one maps once
;; (and a library's block cache) is in the baseline, not in the figure
(wait-until-dead (sb-thread:make-thread (lambda () 1)))
(sb-ext:gc :full t)
(let* ((rss0 (rss-kb))
       (maps0 (map-count))
       (threads (loop repeat *n* collect (sb-thread:make-thread (lambda () 1)))))
  (mapc #'wait-until-dead threads)
  (sleep 0.2) ; let the last ones leave the kernel
  (let ((rss1 (rss-kb)) (maps1 (map-count)))
    (emit "dead-thread-rss" (/ (- rss1 rss0) *n*) "KiB/thread" :threads *n* :rss0_kib rss0 :rss1_kib rss1)
    (emit "dead-thread-maps" (/ (- maps1 maps0) *n*) "maps/thread" :threads *n* :maps0 maps0 :maps1 maps1)
    ;; keep them referenced until here
    (setf threads (length threads))))
(bench-done)
