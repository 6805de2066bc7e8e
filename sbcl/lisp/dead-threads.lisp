;;;; What a dead but not yet reaped thread costs: creates SBCL_TEST_ARGS
;;;; threads (default 2000) that end at once, keeps them referenced (so no
;;;; finalizer reaps them), waits until all are dead, and prints the growth
;;;; of resident memory and of the number of mappings per thread. Exits 104.

(in-package "CL-USER")

(load (merge-pathnames "common.lisp" *load-truename*))

(defvar *n*
  (test-arg 2000))

(defun rss-kb ()
  (with-open-file (s "/proc/self/status")
    (loop for line = (read-line s nil)
          while line
          when (and (> (length line) 6) (string= "VmRSS:" line :end2 6))
            return (parse-integer line :start 6 :junk-allowed t))))

(sb-ext:gc :full t)
(let* ((rss0 (rss-kb))
       (maps0 (map-count))
       (threads (loop repeat *n* collect (sb-thread:make-thread (lambda () 1)))))
  (mapc #'wait-until-dead threads)
  (sleep 0.2) ; let the last ones leave the kernel
  (let ((rss1 (rss-kb)) (maps1 (map-count)))
    (format t "~&dead-threads: ~D dead, unreaped threads: ~,1F KiB resident and ~,2F map entries each ~
               (RSS ~D -> ~D KiB, maps ~D -> ~D)~%"
            *n* (/ (- rss1 rss0) *n*) (/ (- maps1 maps0) *n*) rss0 rss1 maps0 maps1)
    (finish-output)
    (sb-ext:quit :unix-status 104)))
