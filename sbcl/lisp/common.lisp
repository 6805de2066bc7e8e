;;;; Helpers the fixture's Lisp files share: (load (merge-pathnames
;;;; "common.lisp" *load-truename*)) first.

(in-package "CL-USER")

(defun test-arg (default)
  "The integer in SBCL_TEST_ARGS (set by sbcl/run_lisp.py), or DEFAULT."
  (let ((arg (sb-ext:posix-getenv "SBCL_TEST_ARGS")))
    (or (and arg (plusp (length arg)) (parse-integer arg :junk-allowed t)) default)))

(defun wait-until-dead (thread)
  (loop while (sb-thread:thread-alive-p thread)
        do (sleep 0.0002)))

(defun map-count ()
  "Lines of /proc/self/maps: the process's map entries."
  (with-open-file (s "/proc/self/maps")
    (loop for line = (read-line s nil) while line count t)))

(defun foreign-function (name)
  "The address of foreign symbol NAME, or NIL."
  (let ((addr (sb-sys:find-dynamic-foreign-symbol-address name)))
    (and addr (not (zerop addr)) addr)))

(defun sbthread-stat-words (&rest indices)
  "Words INDICES of libsbthread's struct sbthread_stats (64-bit words, in
the header's order), or NIL when the library in use is not ours."
  (let ((stats (foreign-function "sbthread_stats")))
    (when stats
      (let ((buf (sb-alien:make-alien (sb-alien:unsigned 64) 64)))
        (unwind-protect
             (progn
               (sb-alien:alien-funcall
                (sb-alien:sap-alien (sb-sys:int-sap stats)
                                    (function sb-alien:int (* (sb-alien:unsigned 64))))
                buf)
               (mapcar (lambda (i) (sb-alien:deref buf i)) indices))
          (sb-alien:free-alien buf))))))

(defun run-counted-rounds (name rounds word what round)
  "Calls ROUND ROUNDS times and prints how much word WORD of libsbthread's
struct sbthread_stats (WHAT) grew meanwhile. With libsbthread, exits 1
when it grew in fewer than half the rounds: the test's sleeps only order
its threads, so a round may miss its window, but not most of them."
  (let ((before (sbthread-stat-words word)))
    (dotimes (i rounds)
      (funcall round))
    (let ((counted (and before (- (first (sbthread-stat-words word)) (first before)))))
      (format t "~&~A: ~D rounds, each collection completed; ~A: ~A~%"
              name rounds what (or counted "(not libsbthread)"))
      (when (and counted (< (* 2 counted) rounds))
        (format t "~&~A: FAIL: ~A fewer than half the rounds: the test missed its window~%" name what)
        (sb-ext:quit :unix-status 1)))))
